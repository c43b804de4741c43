"""Overlapping `poller` processes on one database (real subprocesses, SQLite and PostgreSQL):
migrations serialized, a frozen process fenced off, read-only commands never blocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from baseline.store import MIGRATION_LOCK, open_store
from tests.e2e.test_cli import ROOT

pytestmark = pytest.mark.slow


def _exe() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``poller -c config args...`` without waiting for it."""
    return subprocess.Popen([*_exe(), "--config", str(config), *args], cwd=config.parent, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def poller(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``poller -c config args...`` to its end."""
    return subprocess.run([*_exe(), "--config", str(config), *args], cwd=config.parent, env=_env(),
                          capture_output=True, text=True, timeout=120)


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll ``predicate`` until it holds (a bound against hangs, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def vm_line(key: str, rev: int) -> str:
    return json.dumps({"type": "vm", "key": key, "name": f"vm-{key}", "attributes": {"rev": rev}}) + "\n"


def write_config(path: Path, url: str, sources: dict[str, str], *, lease_ttl: str = "30s", extra: str = "") -> Path:
    """A poller.yaml: the baseline URL, static jsonl sources name -> path, a jsonl sink."""
    srcs = ", ".join(
        f"{{name: {name}, collector: static, options: {{path: '{file}', types: [vm]}}}}" for name, file in sources.items()
    )
    path.write_text(
        f"baseline: {{url: '{url}'{extra}}}\n"
        f"service: {{lease_ttl: {lease_ttl}}}\n"
        f"notify: {{sinks: [{{name: file, type: jsonl, path: '{path.parent}/out.jsonl'}}]}}\n"
        f"sources: [{srcs}]\n"
    )
    return path


class TestMigrations:
    def test_processes_started_together_on_a_new_database_all_succeed(self, store_url: str, tmp_path: Path) -> None:
        """Four `poller snapshot` processes started together on a fresh database migrate it once,
        under the migration lock; none fails with a duplicate-type or locked error."""
        sources = {}
        for i in range(4):
            (tmp_path / f"inv{i}.jsonl").write_text(vm_line(f"k{i}", 1))
            sources[f"s{i}"] = str(tmp_path / f"inv{i}.jsonl")
        config = write_config(tmp_path / "poller.yaml", store_url, sources)
        blocker = None
        if store_url.startswith("postgresql"):
            # Hold the migration lock while all four start, so they reach it together.
            engine = sa.create_engine(store_url, isolation_level="AUTOCOMMIT")
            blocker = engine.connect()
            blocker.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        procs = [start(config, "snapshot", "--source", f"s{i}") for i in range(4)]
        if blocker is not None:
            def waiting() -> bool:
                sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                return blocker.exec_driver_sql(sql).scalar() == 4
            try:
                wait_for(waiting, "four processes waiting for the migration lock")
            finally:
                blocker.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                blocker.close()
                engine.dispose()
        outcomes = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
        assert [code for code, _ in outcomes] == [0, 0, 0, 0], [err for _, err in outcomes]
        store = open_store(store_url, readonly=True)
        try:
            assert sorted(store.sources()) == ["s0", "s1", "s2", "s3"]
        finally:
            store.close()


class TestFencing:
    def test_frozen_process_commits_nothing_after_another_took_over(self, store_url: str, tmp_path: Path) -> None:
        """F17/F23: process A is SIGSTOPped mid-listing past its lease; B takes the source over and
        commits the newer state; A, woken, ends lease_lost and commits nothing: the baseline never
        goes backwards and the deletion is notified once, under one id."""
        inv_b = tmp_path / "b.jsonl"
        inv_b.write_text(vm_line("a", 1) + vm_line("b", 1) + vm_line("c", 1))
        config_b = write_config(tmp_path / "b.yaml", store_url, {"inv": str(inv_b)}, lease_ttl="2s")
        first = poller(config_b, "snapshot")
        assert first.returncode == 0, first.stderr
        fifo = tmp_path / "a.jsonl"
        os.mkfifo(fifo)
        config_a = write_config(tmp_path / "a.yaml", store_url, {"inv": str(fifo)}, lease_ttl="2s")
        store = open_store(store_url)
        proc_a = start(config_a, "snapshot")
        writer = None
        try:
            def reader_open() -> bool:
                nonlocal writer
                try:
                    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    assert proc_a.poll() is None, proc_a.stderr.read() if proc_a.stderr else ""
                    return False
                return True
            wait_for(reader_open, "process A to open its listing")
            assert writer is not None
            os.write(writer, (vm_line("a", 1) + vm_line("b", 1)).encode())  # A's stale view: c gone, a at rev 1
            token_a = store.lease_token("inv")
            os.kill(proc_a.pid, signal.SIGSTOP)

            def expired() -> bool:
                with store.transaction(readonly=True) as tx:
                    row = tx.lease_row("inv")
                return bool(row.expired)
            wait_for(expired, "A's lease to expire by the database's clock")
            inv_b.write_text(vm_line("a", 2) + vm_line("b", 1))  # the world moved on: a at rev 2, c deleted
            second = poller(config_b, "snapshot")
            assert second.returncode == 0, second.stderr
            assert store.lease_token("inv") > token_a
        finally:
            os.kill(proc_a.pid, signal.SIGCONT)
            if writer is not None:
                os.close(writer)  # end of A's listing
        _, err_a = proc_a.communicate(timeout=120)
        assert proc_a.returncode == 1 and "lease_lost" in err_a, err_a
        entity = {e.key: e for e in store.iter_entities("inv", include_deleted=True)}
        assert json.loads(entity["a"].payload or b"{}")["attributes"] == {"rev": 2}
        assert entity["c"].deleted_at is not None
        deletes = [r for r in store.history(source="inv") if r.action == "delete"]
        assert [r.key for r in deletes] == ["c"]
        updates = [json.loads(r.body)["entity"]["rev"] for r in store.history(source="inv") if r.action == "update"]
        assert updates == [2]
        assert sorted(r.status for r in store.runs("inv")) == ["lease_lost", "ok", "ok"]
        third = poller(config_b, "snapshot", "--exit-code")
        assert third.returncode == 0, third.stdout  # nothing to flap forward again
        store.close()


class TestReadOnlyCommands:
    def test_reporting_commands_answer_while_a_writer_holds_the_lock(self, tmp_path: Path) -> None:
        """While another process holds BEGIN IMMEDIATE on the SQLite baseline, `poller sources`,
        `diff`, `baseline show` and `notifications status` answer (no write lock, no migration)."""
        (tmp_path / "inv.jsonl").write_text(vm_line("a", 1))
        db = tmp_path / "b.db"
        config = write_config(tmp_path / "poller.yaml", f"sqlite:///{db}", {"inv": str(tmp_path / "inv.jsonl")},
                              extra=", lock_timeout: 2s")
        assert poller(config, "snapshot").returncode == 0
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE poller_runs SET summary = summary")
        try:
            for args in (("sources",), ("diff", "--since", "1d"), ("baseline", "show"), ("notifications", "status"),
                         ("baseline", "export")):
                result = poller(config, *args)
                assert result.returncode == 0, (args, result.stderr)
            assert "inv" in poller(config, "sources").stdout
            writer = poller(config, "snapshot")
            assert writer.returncode != 0 and "busy" in writer.stderr  # a writer does wait, then fails cleanly
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def test_schema_behind_is_reported_not_migrated(self, tmp_path: Path) -> None:
        """A read-only command on a database at an older schema says so and leaves it as it is."""
        db = tmp_path / "b.db"
        (tmp_path / "inv.jsonl").write_text(vm_line("a", 1))
        config = write_config(tmp_path / "poller.yaml", f"sqlite:///{db}", {"inv": str(tmp_path / "inv.jsonl")})
        assert poller(config, "snapshot").returncode == 0
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
        result = poller(config, "sources")
        assert result.returncode != 0 and "schema is behind" in result.stderr and "Traceback" not in result.stderr
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
