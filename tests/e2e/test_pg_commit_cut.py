"""F27: the PostgreSQL connection lost INSIDE a run's commit, through the installed CLI.

A real ``poller snapshot`` talks to PostgreSQL through a TCP proxy on 127.0.0.1
(tests/tcp_proxy.py). A watcher on a direct admin connection sees, in
``pg_stat_activity``, the poller's backend writing baseline rows (or outbox rows) inside
the commit's transaction and then, once more rows have gone through the proxy, either cuts
the proxied connections (both sockets closed: a dropped path) or, on a private cluster,
calls ``pg_terminate_backend`` (what a failover does to the old primary's sessions). The
run must fail cleanly, leave the baseline and the outbox as they were (the database's
statistics show rows of the transaction were written, then rolled back), and the next run
must commit everything exactly once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
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
    # what the poller's backend is running when the watcher strikes (inside the commit's transaction)
    "baseline": "^UPDATE poller_entities ",
    "outbox": "^(INSERT INTO|COPY) poller_outbox ",  # bulk rows go by COPY
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


class Watcher:
    """Polls pg_stat_activity (directly, not through the proxy) and strikes once the poller's
    backend runs the stage's statement in a transaction that has written (``backend_xid`` set)
    and, for baseline rows, another 64 KiB went through the proxy."""

    def __init__(self, admin: sa.Engine, database: str, stage: str, proxy: TcpProxy, strike: str) -> None:
        self.admin, self.database, self.pattern, self.proxy, self.strike = admin, database, STAGES[stage], proxy, strike
        # Baseline rows: strike after another 64 KiB of them. Outbox rows come last and are pipelined
        # (sent before the server has run them): strike as soon as their insert runs.
        self.wait_bytes = 65536 if stage == "baseline" else 0
        self.hit: tuple[int, str] | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _find(self, conn: sa.Connection) -> tuple[int, str] | None:
        row = conn.exec_driver_sql(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_xid IS NOT NULL AND query ~* %s LIMIT 1", (self.database, self.pattern),
        ).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def _run(self) -> None:
        with self.admin.connect() as conn:
            while not self.stop.is_set():
                found = self._find(conn)
                if found is None:
                    time.sleep(0.002)
                    continue
                if self.wait_bytes:  # let more rows of the transaction through first
                    mark = self.proxy.bytes_up
                    while self.proxy.bytes_up < mark + self.wait_bytes and not self.stop.is_set():
                        time.sleep(0.001)
                if self.strike == "terminate":
                    conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (found[0],))
                else:
                    self.proxy.cut()
                self.hit = found
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


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
    [("cut", "cut", "baseline"), ("cut", "cut", "outbox"), ("terminate", "terminate", "baseline")],
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
        watcher = Watcher(direct, name, stage, proxy, strike)
        try:
            cut = snapshot(config)
        finally:
            watcher.close()
        assert watcher.hit is not None, f"the commit ended before the watcher saw {STAGES[stage]}: {cut.stderr[-500:]}"
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
