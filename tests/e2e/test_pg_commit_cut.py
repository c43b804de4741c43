"""F27: the PostgreSQL connection lost INSIDE a run's commit, through the installed CLI.

A real ``poller snapshot`` talks to PostgreSQL through a TCP proxy on 127.0.0.1
(tests/tcp_proxy.py). The proxy holds the commit's stream 64 KiB into its baseline rows
(``UPDATE poller_entities``) or its outbox rows (``COPY poller_outbox``); a direct admin
connection checks in ``pg_stat_activity`` that the poller's backend is inside a transaction
that has written, then the test either cuts the proxied connections (both sockets closed: a
dropped path) or, on a private cluster, calls ``pg_terminate_backend`` (what a failover does
to the old primary's sessions). The
run must fail cleanly, leave the baseline and the outbox as they were (the database's
statistics show rows of the transaction were written, then rolled back), and the next run
must commit everything exactly once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import _drop_pg_database, _new_pg_database
from tests.private_servers import PrivatePostgres
from tests.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
BEFORE = 3000  # entities in the baseline before the interrupted run
ADDED = 1500  # entities the interrupted run adds (it also updates all BEFORE)
STAGES = {
    # Where the proxy holds the commit's stream (the statement's text as the client sends it, then
    # 64 KiB of its rows) and what pg_stat_activity then shows the poller's backend running.
    "baseline": (b"UPDATE poller_entities SET", "^UPDATE poller_entities "),
    "outbox": (b"COPY poller_outbox", "^COPY poller_outbox "),  # bulk rows go by COPY
}


def poller_cmd() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def write_inventory(path: Path, version: int, count: int) -> None:
    """``count`` vms whose attributes depend on ``version`` (about 400 bytes each)."""
    lines = (
        json.dumps({"type": "vm", "key": f"vm-{i:05d}", "name": f"vm-{i}",
                    "attributes": {"version": version, "notes": f"{version}-{i}-" + "x" * 360}})
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")


def write_config(path: Path, url: str, inventory: Path, sink: Path) -> None:
    path.write_text(
        f"baseline: {{url: '{url}'}}\n"
        f"notify: {{sinks: [{{name: out, type: jsonl, path: '{sink}'}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n"
    )


def snapshot(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*poller_cmd(), "--config", str(config), "snapshot"], capture_output=True, text=True,
                          timeout=300, check=False)


def baseline_rows(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT key, hash, version FROM poller_entities WHERE source = 'inv'").all()
    return {key: (digest, version) for key, digest, version in rows}


def outbox_rows(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT id, key, action FROM poller_outbox ORDER BY seq").all()]


def written(engine: sa.Engine, table: str) -> int:
    """Rows inserted plus updated in ``table`` since the database began, committed or not (its statistics)."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = %s", (table,)).one()
    return int(row[0])


def run_status(engine: sa.Engine, run_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT status FROM poller_runs WHERE id = %s", (run_id,)).scalar())


def delivered(sink: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


def strike_inside_commit(proc: subprocess.Popen[str], proxy: TcpProxy, admin: sa.Engine, database: str, stage: str,
                         strike: str) -> tuple[int, str]:
    """Wait until the proxy holds the commit's stream inside ``stage``, check that the poller's backend is in a
    transaction that has written, then cut the connections or terminate that backend (and let the stream go)."""
    while not proxy.held.wait(0.1):
        assert proc.poll() is None, "the run ended before its commit reached the stage"
    with admin.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_xid IS NOT NULL AND query ~* %s", (database, STAGES[stage][1]),
        ).one()
        pid, query = int(row[0]), str(row[1])
        if strike == "cut":
            proxy.cut()
        else:
            conn.exec_driver_sql("SELECT pg_terminate_backend(%s, 10000)", (pid,))  # waits until it is gone
            proxy.release()  # what the client still sends meets a closed server
    return pid, query


@pytest.fixture
def pg_private_or_shared(request: pytest.FixtureRequest) -> Iterator[str]:
    """The admin URL: the shared server for a cut (only our connections are touched), a private cluster to terminate."""
    if request.param == "terminate":
        cluster: PrivatePostgres = request.getfixturevalue("private_pg")
        yield cluster.admin_url
    else:
        yield request.getfixturevalue("pg_server")


def proxied(url: str, proxy: TcpProxy) -> str:
    return sa.engine.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("pg_private_or_shared", "strike", "stage"),
    [("cut", "cut", "baseline"), ("cut", "cut", "outbox"), ("terminate", "terminate", "baseline"),
     ("terminate", "terminate", "outbox")],
    indirect=["pg_private_or_shared"],
)
def test_F27_connection_lost_inside_the_commit(tmp_path: Path, pg_private_or_shared: str, strike: str, stage: str) -> None:
    """F27: the connection cut (or the backend terminated) while the commit writes baseline or outbox rows: the run
    fails with one error line and no traceback, nothing of it is committed, and the next run commits it all once."""
    admin_url = pg_private_or_shared
    name, url = _new_pg_database(admin_url)
    target = sa.engine.make_url(url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    direct = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        inventory, sink, config = tmp_path / "inv.jsonl", tmp_path / "out.jsonl", tmp_path / "poller.yaml"
        write_config(config, proxied(url, proxy), inventory, sink)
        write_inventory(inventory, 1, BEFORE)
        first = snapshot(config)
        assert first.returncode == 0, first.stderr
        before, outbox_before = baseline_rows(direct), outbox_rows(direct)
        assert len(before) == BEFORE and len(outbox_before) == BEFORE
        written_before = written(direct, "poller_entities")

        write_inventory(inventory, 2, BEFORE + ADDED)
        proxy.arm(STAGES[stage][0], 65536)
        proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "snapshot"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            strike_inside_commit(proc, proxy, direct, name, stage, strike)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        cut = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert cut.returncode == 1, cut.stdout[-500:] + cut.stderr[-2000:]
        assert "Traceback" not in cut.stderr
        errors = [json.loads(line) for line in cut.stderr.splitlines() if line.startswith("{")]
        failed = [e for e in errors if e.get("event") == "source_summary"]
        assert len(failed) == 1 and failed[0]["status"] == "failed", cut.stderr[-2000:]
        # It reports no changes: none of what its commit had reached when it broke was committed.
        assert "0 created, 0 updated, 0 deleted" in failed[0]["text"] and "cannot write" in failed[0]["text"]
        assert run_status(direct, 2) == "failed"
        # Nothing of the interrupted run is committed: the baseline and the outbox are as before ...
        assert baseline_rows(direct) == before
        assert outbox_rows(direct) == outbox_before
        assert [n["id"] for n in delivered(sink)] == [r[0] for r in outbox_before]
        # ... although its transaction had written baseline rows (counted by the statistics, then rolled back).
        deadline = time.monotonic() + 30
        while written(direct, "poller_entities") == written_before and time.monotonic() < deadline:
            time.sleep(0.2)  # the backend reports its statistics as it exits
        assert written(direct, "poller_entities") > written_before

        again = snapshot(config)
        assert again.returncode == 0, again.stderr[-2000:]
        after, outbox_after = baseline_rows(direct), outbox_rows(direct)
        assert len(after) == BEFORE + ADDED
        assert all(after[key][1] == before[key][1] + 1 and after[key][0] != before[key][0] for key in before)
        new = outbox_after[len(outbox_before):]
        assert outbox_after[: len(outbox_before)] == outbox_before
        assert sorted(action for _, _, action in new).count("update") == BEFORE
        assert sorted(action for _, _, action in new).count("create") == ADDED
        assert len({key for _, key, _ in new}) == len(new) == BEFORE + ADDED  # each change once
        assert [n["id"] for n in delivered(sink)] == [r[0] for r in outbox_after]  # delivered once, in order
    finally:
        proxy.close()
        direct.dispose()
        _drop_pg_database(admin_url, name)
