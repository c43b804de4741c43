"""`poller run` as a real process: schedules, signals, crashes, database outages, metrics and health.

Everything talks to real things: the installed console script, SQLite files, the
PostgreSQL server of POLLER_TEST_PG_URL, a private PostgreSQL cluster that the outage test
stops and starts (tests/private_servers.py; the shared server is never stopped), and HTTP on
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baseline.store import open_store
from tests.poller.service.helpers import read_jsonl, static_source, vms, wait_for, write_config, write_inventory
from tests.private_servers import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]


def poller_command() -> list[str]:
    """The installed console script (the checkout's cli.py when it is not installed)."""
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


class ServiceProcess:
    """A running `poller run`; its JSON log lines are parsed as they arrive."""

    def __init__(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
        self.proc = subprocess.Popen(
            [*poller_command(), "--config", str(config), "--log-format", "json", "run"],
            cwd=config.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "raw", "line": line.rstrip()})

    def matching(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        """The log events named ``event`` whose fields equal ``fields``."""
        return [e for e in list(self.events) if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]

    def wait_event(self, event: str, timeout: float = 20.0, count: int = 1, **fields: Any) -> dict[str, Any]:
        """Wait for the ``count``-th matching event; fail if the process dies first."""

        def seen() -> dict[str, Any] | None:
            found = self.matching(event, **fields)
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                raise AssertionError(f"poller run exited with {self.proc.returncode} before {event}: {self.events[-5:]}")
            return None

        return wait_for(seen, timeout=timeout, what=f"{event} {fields}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and return the exit code."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """Make sure the process is gone (used in teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    """Started services, killed at the end of the test whatever happened."""
    started: list[ServiceProcess] = []
    yield started
    for svc in started:
        svc.kill()


def start(services: list[ServiceProcess], config: Path) -> ServiceProcess:
    svc = ServiceProcess(config)
    services.append(svc)
    svc.wait_event("service_started")
    return svc


def outbox(url: str, source: str | None = None) -> list[Any]:
    store = open_store(url)
    try:
        return list(store.history(source=source))
    finally:
        store.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/b.db"


class TestRunAndSignals:
    """Schedules, a changing inventory, SIGTERM and SIGHUP."""

    def test_changes_delivered_and_sigterm_exits_0(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """Changes made while the service runs reach the jsonl sink; SIGTERM exits 0 with every notification delivered once."""
        inv, out = tmp_path / "inv.jsonl", tmp_path / "out.jsonl"
        write_inventory(inv, vms(5))
        config = write_config(tmp_path / "poller.yaml", db=sqlite_url(tmp_path), sink=out, sources=[static_source("inv", inv)])
        svc = start(services, config)
        wait_for(lambda: len(read_jsonl(out)) == 5, what="5 creates")
        write_inventory(inv, vms(1, flavor="big") + vms(3, start=1) + vms(1, start=9))
        wait_for(lambda: len(read_jsonl(out)) == 8, what="update, delete and create")
        write_inventory(inv, vms(1, flavor="big") + vms(1, start=1, flavor="big") + vms(2, start=2) + vms(1, start=9))
        svc.wait_event("run_finished", count=len(svc.matching("run_finished")) + 1)
        assert svc.stop() == 0
        delivered = read_jsonl(out)
        assert [n["id"] for n in delivered] == [r.id for r in outbox(sqlite_url(tmp_path))]
        assert len({n["id"] for n in delivered}) == len(delivered)
        assert sorted((n["key"], n["action"]) for n in delivered[5:8]) == [("vm-0", "update"), ("vm-4", "delete"), ("vm-9", "create")]
        assert svc.matching("service_stopped")

    def test_sighup_adds_source_and_rejects_bad_config(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """SIGHUP with an added source starts polling it; a broken file is rejected and the old config keeps running."""
        a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out.jsonl"
        write_inventory(a, vms(1))
        write_inventory(b, vms(2, start=10))
        db = sqlite_url(tmp_path)
        config = write_config(tmp_path / "poller.yaml", db=db, sink=out, sources=[static_source("a", a)])
        svc = start(services, config)
        wait_for(lambda: len(read_jsonl(out)) == 1, what="a's create")
        write_config(config, db=db, sink=out, sources=[static_source("a", a), static_source("b", b)])
        svc.proc.send_signal(signal.SIGHUP)
        assert svc.wait_event("config_reloaded")["added"] == ["b"]
        wait_for(lambda: sorted(n["key"] for n in read_jsonl(out)) == ["vm-0", "vm-10", "vm-11"], what="b's creates")
        config.write_text("sources: [{name: a, collector: static, interval: nope}]\n")
        svc.proc.send_signal(signal.SIGHUP)
        rejected = svc.wait_event("config_rejected")
        assert "sources.a.interval" in rejected["error"]
        runs = len(svc.matching("run_finished", source="b"))
        svc.wait_event("run_finished", count=runs + 1, source="b")
        assert svc.stop() == 0


class TestStartup:
    """What `poller run` refuses to start with."""

    def test_bad_collector_option_exits_2(self, tmp_path: Path) -> None:
        """A source whose options are wrong stops the start with exit 2 and one line naming the option."""
        config = write_config(tmp_path / "poller.yaml", db=sqlite_url(tmp_path), sink=None,
                              sources=[{"name": "x", "collector": "static", "options": {}}])
        done = subprocess.run([*poller_command(), "--config", str(config), "run"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "sources.x.options.path" in done.stderr and "Traceback" not in done.stderr


def reference_changes(tmp_path: Path, before: list[dict], after: list[dict]) -> list[tuple]:
    """What `poller snapshot` reports for before -> after on a fresh database (no crash involved)."""
    ref = tmp_path / "ref"
    ref.mkdir()
    inv = ref / "inv.jsonl"
    config = write_config(ref / "poller.yaml", db=f"sqlite:///{ref}/b.db", sink=None, sources=[static_source("inv", inv, types=["vm"])])
    notes = []
    for inventory in (before, after):
        write_inventory(inv, inventory)
        done = subprocess.run([*poller_command(), "--config", str(config), "snapshot", "--format", "jsonl"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        notes = [json.loads(line) for line in done.stdout.splitlines()]
    return sorted(_change(n) for n in notes)


def _change(note: dict[str, Any]) -> tuple:
    return (note["key"], note["action"], note["previous_hash"], note["hash"], json.dumps(note.get("changes"), sort_keys=True))


def big_inventory(count: int, start: int = 0, changed_every: int = 0) -> list[dict]:
    return [
        {"type": "vm", "key": f"vm-{n}", "name": f"vm{n}",
         "attributes": {"n": n, "flavor": "big" if changed_every and n % changed_every == 0 else "small", "pad": "x" * 200}}
        for n in range(start, start + count)
    ]


class PipeFeeder:
    """Turns an inventory path into a named pipe the test writes by hand, so a run can be caught mid-listing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fifo = path.with_name(path.name + ".fifo")
        os.mkfifo(fifo)
        self.handle = path.with_name(path.name + ".pipe")
        os.link(fifo, self.handle)
        os.replace(fifo, path)

    def open(self, timeout: float = 30.0) -> int:
        """Wait for a reader (a listing opening the inventory) and return the write end."""
        def attempt() -> int | None:
            try:
                fd = os.open(self.handle, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return None
            os.set_blocking(fd, True)
            return fd

        return wait_for(attempt, timeout=timeout, interval=0.01, what="a reader of the inventory pipe")


def lines_of(entities: list[dict]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in entities).encode()


class TestCrash:
    """kill -9 in the middle of a run."""

    @pytest.mark.slow
    def test_kill_9_mid_run_then_restart(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """F17: After kill -9 mid-run and a restart, the next run emits exactly the changes a crash-free run would."""
        before, after = big_inventory(5000), big_inventory(5000, start=500, changed_every=4)
        expected = reference_changes(tmp_path, before, after)
        inv, out, db = tmp_path / "inv.jsonl", tmp_path / "out.jsonl", sqlite_url(tmp_path)
        write_inventory(inv, before)
        config = write_config(tmp_path / "poller.yaml", db=db, sink=out, sources=[static_source("inv", inv, types=["vm"])])
        first = start(services, config)
        first.wait_event("run_finished", timeout=60, created=5000)
        wait_for(lambda: len(read_jsonl(out)) == 5000, what="the first load delivered")
        first_seq = outbox(db)[-1].seq
        pipe = PipeFeeder(inv)
        fd = pipe.open()  # the next run's listing gets half the new inventory, then the process dies under it
        os.write(fd, lines_of(after[: len(after) // 2]))
        store = open_store(db)
        try:
            victim = store.runs("inv", limit=1)[0]
            assert victim.status == "running"
            first.proc.kill()
            first.proc.wait(timeout=10)
            os.close(fd)
            assert [r.status for r in store.runs("inv") if r.id == victim.id] == ["running"]
            assert outbox(db)[-1].seq == first_seq
        finally:
            store.close()
        write_inventory(inv, after)
        second = start(services, config)
        second.wait_event("run_finished", timeout=60, updated=len([c for c in expected if c[1] == "update"]))
        assert second.stop() == 0
        emitted = [r for r in outbox(db) if r.seq > first_seq]
        assert sorted(_change(json.loads(r.body)) for r in emitted) == expected
        assert {n["id"] for n in read_jsonl(out)} == {r.id for r in outbox(db)}


class TestGracefulStop:
    """SIGTERM in the middle of a run."""

    def test_sigterm_lets_the_run_finish_and_delivers(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """F17: SIGTERM during a run waits for it (within stop_timeout), delivers its notifications, and exits 0."""
        inv, out, db = tmp_path / "inv.jsonl", tmp_path / "out.jsonl", sqlite_url(tmp_path)
        write_inventory(inv, vms(2))
        config = write_config(tmp_path / "poller.yaml", db=db, sink=out, sources=[static_source("inv", inv, types=["vm"])])
        svc = start(services, config)
        wait_for(lambda: len(read_jsonl(out)) == 2, what="2 creates")
        pipe = PipeFeeder(inv)
        fd = pipe.open()  # a run is listing: it waits for the inventory
        svc.proc.send_signal(signal.SIGTERM)
        svc.wait_event("service_stopping")
        os.write(fd, lines_of(vms(2) + vms(1, start=7)))
        os.close(fd)
        assert svc.proc.wait(timeout=30) == 0
        assert [(n["key"], n["action"]) for n in read_jsonl(out)[2:]] == [("vm-7", "create")]
        assert [n["id"] for n in read_jsonl(out)] == [r.id for r in outbox(db)]


class TestDatabaseOutage:
    """Runs fail cleanly while the database is unavailable, and the service recovers by itself."""

    @pytest.mark.slow
    @pytest.mark.postgres
    def test_postgresql_stopped_and_started(
        self, tmp_path: Path, private_pg: PrivatePostgres, services: list[ServiceProcess]
    ) -> None:
        """F27: PostgreSQL (a private cluster) stopped in the middle of a run: runs fail and are counted; once back, the change arrives."""
        from tests.conftest import _drop_pg_database, _new_pg_database

        name, url = _new_pg_database(private_pg.admin_url)
        try:
            inv, out = tmp_path / "inv.jsonl", tmp_path / "out.jsonl"
            write_inventory(inv, vms(3))
            config = write_config(tmp_path / "poller.yaml", db=url, sink=out, sources=[static_source("inv", inv, types=["vm"])])
            svc = start(services, config)
            wait_for(lambda: len(read_jsonl(out)) == 3, what="3 creates")
            changed = vms(1, flavor="big") + vms(2, start=1)
            pipe = PipeFeeder(inv)
            fd = pipe.open()  # a run holds the source's lease and is listing
            try:
                private_pg.stop()
                os.write(fd, lines_of(changed))
                os.close(fd)
                write_inventory(inv, changed)
                svc.wait_event("run_finished", status="failed", timeout=30)
                svc.wait_event("run_failed", timeout=30)  # the next one cannot even start
                assert svc.proc.poll() is None
            finally:
                private_pg.start()
            wait_for(lambda: len(read_jsonl(out)) == 4, timeout=60, what="the update after recovery")
            assert read_jsonl(out)[-1]["key"] == "vm-0" and read_jsonl(out)[-1]["action"] == "update"
            # The failed run could not give its lease back; it is given back once the database answers.
            assert svc.matching("lease_released_late") or svc.matching("leftover_lease_released")
            assert svc.stop() == 0
        finally:
            if not private_pg.started:
                private_pg.start()
            _drop_pg_database(private_pg.admin_url, name)

    @pytest.mark.slow
    def test_sqlite_locked_by_another_process(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """F13: While another connection holds BEGIN EXCLUSIVE, runs fail cleanly; after it lets go, the change arrives."""
        inv, out = tmp_path / "inv.jsonl", tmp_path / "out.jsonl"
        write_inventory(inv, vms(3))
        config = write_config(tmp_path / "poller.yaml", db=sqlite_url(tmp_path), sink=out, sources=[static_source("inv", inv)])
        svc = start(services, config)
        wait_for(lambda: len(read_jsonl(out)) == 3, what="3 creates")
        holder = sqlite3.connect(tmp_path / "b.db", isolation_level=None, timeout=30)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            write_inventory(inv, vms(1, flavor="big") + vms(2, start=1))
            failed = svc.wait_event("run_failed", timeout=60)
            assert "locked" in failed["error"] and svc.proc.poll() is None
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        wait_for(lambda: len(read_jsonl(out)) == 4, timeout=60, what="the update after the lock")
        assert svc.stop() == 0


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class TestObservability:
    """/metrics and /healthz of a running service."""

    @pytest.mark.slow
    def test_metrics_and_healthz(self, tmp_path: Path, services: list[ServiceProcess]) -> None:
        """Metrics count runs and changes; /healthz is 200, then 503 naming a source with no complete run in 3 intervals."""
        inv, out = tmp_path / "inv.jsonl", tmp_path / "out.jsonl"
        write_inventory(inv, vms(2))
        config = write_config(tmp_path / "poller.yaml", db=sqlite_url(tmp_path), sink=out, sources=[static_source("inv", inv)],
                              service={"metrics_port": 0})
        svc = start(services, config)
        listening = svc.matching("metrics_listening")[0]
        assert listening["host"] == "127.0.0.1"
        port = listening["port"]
        wait_for(lambda: len(read_jsonl(out)) == 2, what="2 creates")
        status, body = http_get(port, "/healthz")
        assert status == 200 and json.loads(body)["stale"] == []
        text = wait_for(lambda: (t := http_get(port, "/metrics")[1].decode()) and 'poller_outbox_backlog{sink="file"} 0.0' in t and t,
                        what="backlog gauge")
        assert 'poller_changes_total{action="create",entity_type="vm",source="inv"} 2.0' in text
        assert 'poller_entities{entity_type="vm",source="inv"} 2.0' in text
        assert 'poller_last_success_timestamp_seconds{source="inv"}' in text
        inv.write_text('{"type": "vm", "key": "vm-0"}\n{oops\n')
        status, body = wait_for(lambda: (r := http_get(port, "/healthz"))[0] == 503 and r, timeout=15, what="a 503")
        assert [s["source"] for s in json.loads(body)["stale"]] == ["inv"]
        assert 'poller_run_failures_total{source="inv"}' in http_get(port, "/metrics")[1].decode()
        assert svc.stop() == 0
