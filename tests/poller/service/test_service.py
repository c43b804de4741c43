"""The service in-process, against real SQLite files and real (FIFO-blocked) file reads.

A static source whose inventory path is a named pipe blocks in open() until the test
writes to it: a real hang in a system call, like a collector stuck on the network.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent

from baseline.store import open_store
from poller.config import load_config
from poller.service.scheduler import Service

from .helpers import read_jsonl, static_source, vms, wait_for, write_config, write_inventory


class Pipe:
    """An inventory path that is a FIFO until released, then a regular file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.handle = path.with_name(path.name + ".pipe")
        os.link(path, self.handle)

    def release(self, entities: list[dict]) -> None:
        """Make the path a regular file, then feed one reader blocked on the pipe."""
        write_inventory(self.path, entities)
        threading.Thread(target=self._feed, args=(entities,), daemon=True).start()

    def _feed(self, entities: list[dict]) -> None:
        import json

        fd = os.open(self.handle, os.O_WRONLY)
        os.write(fd, "".join(json.dumps(e) + "\n" for e in entities).encode())
        os.close(fd)


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator:
    started: list[Service] = []

    def make(sources: list[dict], sink: Path | None = tmp_path / "out.jsonl", baseline: dict | None = None, **service: object) -> Service:
        cfg = write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=sink,
                           sources=sources, service=service, baseline=baseline)
        config = load_config(str(cfg))
        svc = Service(str(cfg), config, open_store(config.baseline.url))
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        if not svc._halt.is_set():
            svc.stop()
        svc.store.close()


def sample(svc: Service, name: str, **labels: str) -> float:
    return svc.metrics.registry.get_sample_value(name, labels) or 0.0


class TestScheduling:
    """Runs on schedule, delivery, and the guard against overlaps."""

    def test_runs_and_delivers_changes(self, tmp_path: Path, make_service) -> None:
        """The first run's creates and a later update reach the jsonl sink, once each."""
        inv = tmp_path / "inv.jsonl"
        write_inventory(inv, vms(3))
        svc = make_service([static_source("inv", inv)])
        out = tmp_path / "out.jsonl"
        wait_for(lambda: len(read_jsonl(out)) == 3, what="3 creates")
        write_inventory(inv, vms(3, flavor="big")[:1] + vms(2, start=1))
        wait_for(lambda: len(read_jsonl(out)) == 4, what="1 update")
        svc.stop()
        notes = read_jsonl(out)
        assert [n["action"] for n in notes] == ["create"] * 3 + ["update"]
        assert len({n["id"] for n in notes}) == 4

    def test_overlapping_fires_are_coalesced(self, tmp_path: Path, make_service) -> None:
        """F22: While a run outlasts its 1 s interval, further fires are skipped and counted, never run twice."""
        pipe = Pipe(tmp_path / "slow.jsonl")
        svc = make_service([static_source("slow", pipe.path)])
        wait_for(lambda: sample(svc, "poller_runs_skipped_total", source="slow", reason="overlap") >= 2, what="skips")
        assert len(svc.store.runs("slow")) == 1
        pipe.release(vms(2))
        wait_for(lambda: sample(svc, "poller_runs_total", source="slow", status="ok") >= 1, what="the slow run")
        assert svc.store.runs("slow")[-1].status == "ok"


class TestTimeout:
    """A hung source is abandoned, commits nothing and never delays the others."""

    def test_hung_source_abandoned_others_continue(self, tmp_path: Path, make_service) -> None:
        """Past its timeout a hung run is abandoned; the other source keeps running; the late finisher commits nothing."""
        pipe = Pipe(tmp_path / "hung.jsonl")
        fast = tmp_path / "fast.jsonl"
        write_inventory(fast, vms(2))
        svc = make_service([static_source("hung", pipe.path, timeout=1), static_source("fast", fast)], workers=2)
        wait_for(lambda: sample(svc, "poller_run_timeouts_total", source="hung") == 1, what="the timeout")
        before = sample(svc, "poller_runs_total", source="fast", status="ok")
        wait_for(lambda: sample(svc, "poller_runs_skipped_total", source="hung", reason="timed_out_run_unwinding") >= 1,
                 what="a skipped fire of the hung source")
        wait_for(lambda: sample(svc, "poller_runs_total", source="fast", status="ok") >= before + 2, what="fast runs")
        pipe.release(vms(5))
        wait_for(lambda: sample(svc, "poller_runs_total", source="hung", status="partial") >= 1, what="the late finisher")
        late = [r for r in svc.store.runs("hung") if r.status == "partial"]
        assert late and "timeout" in (late[-1].summary or "")
        assert list(svc.store.history(run_id=late[-1].id)) == []


class TestStop:
    """The graceful stop."""

    def test_stop_waits_for_running_source_and_delivers(self, tmp_path: Path, make_service) -> None:
        """stop() lets a running source finish, then delivers its notifications before returning."""
        pipe = Pipe(tmp_path / "slow.jsonl")
        svc = make_service([static_source("slow", pipe.path)], stop_timeout=20)
        wait_for(lambda: svc.store.runs("slow"), what="the run to start")
        threading.Timer(1.0, pipe.release, args=(vms(4),)).start()
        svc.stop()
        assert [n["action"] for n in read_jsonl(tmp_path / "out.jsonl")] == ["create"] * 4

    def test_stop_does_not_wait_past_stop_timeout(self, tmp_path: Path, make_service) -> None:
        """A run that outlasts service.stop_timeout does not hold the stop."""
        pipe = Pipe(tmp_path / "hung.jsonl")
        svc = make_service([static_source("hung", pipe.path)], stop_timeout=1)
        wait_for(lambda: svc.store.runs("hung"), what="the run to start")
        began = time.monotonic()
        svc.stop()
        assert time.monotonic() - began < 5
        pipe.release(vms(1))


class TestReload:
    """SIGHUP's reload, called directly."""

    def test_reload_adds_and_removes_sources(self, tmp_path: Path, make_service) -> None:
        """A source added to the file starts running; a removed one loses its job."""
        a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        write_inventory(a, vms(1))
        write_inventory(b, vms(2, start=10))
        svc = make_service([static_source("a", a)])
        wait_for(lambda: len(read_jsonl(tmp_path / "out.jsonl")) == 1, what="a's create")
        write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=tmp_path / "out.jsonl",
                     sources=[static_source("b", b)])
        assert svc.reload() is True
        wait_for(lambda: len(read_jsonl(tmp_path / "out.jsonl")) == 3, what="b's creates")
        assert svc._scheduler.get_job("source:a") is None and svc._scheduler.get_job("source:b") is not None

    def test_reload_reschedules(self, tmp_path: Path, make_service) -> None:
        """A changed interval replaces the job's trigger."""
        a = tmp_path / "a.jsonl"
        write_inventory(a, vms(1))
        svc = make_service([static_source("a", a)])
        write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=tmp_path / "out.jsonl",
                     sources=[static_source("a", a, interval=3600)])
        assert svc.reload() is True
        assert svc._scheduler.get_job("source:a").trigger.interval.total_seconds() == 3600

    def test_bad_config_is_rejected(self, tmp_path: Path, make_service) -> None:
        """A config with an error changes nothing: the old sources keep running."""
        a = tmp_path / "a.jsonl"
        write_inventory(a, vms(1))
        svc = make_service([static_source("a", a)])
        (tmp_path / "poller.yaml").write_text("sources: [{name: a, collector: static, bogus: 1}]\n")
        assert svc.reload() is False
        assert sample(svc, "poller_config_reloads_total", outcome="rejected") == 1
        runs = sample(svc, "poller_runs_total", source="a", status="ok")
        wait_for(lambda: sample(svc, "poller_runs_total", source="a", status="ok") > runs, what="a to keep running")

    def test_bad_collector_options_rejected(self, tmp_path: Path, make_service) -> None:
        """A reload whose collector options are invalid is rejected before anything changes."""
        a = tmp_path / "a.jsonl"
        write_inventory(a, vms(1))
        svc = make_service([static_source("a", a)])
        write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=tmp_path / "out.jsonl",
                     sources=[static_source("a", a), {"name": "x", "collector": "static", "options": {}}])
        assert svc.reload() is False
        assert svc._scheduler.get_job("source:x") is None


class TestPrune:
    """The hourly prune of delivered history."""

    def test_delivered_history_past_history_days_is_pruned(self, tmp_path: Path, make_service) -> None:
        """With history_days 0, notifications every durable sink received are dropped from the outbox."""
        inv = tmp_path / "inv.jsonl"
        write_inventory(inv, vms(3))
        svc = make_service([static_source("inv", inv, interval=3600)], baseline={"history_days": 0})
        wait_for(lambda: len(read_jsonl(tmp_path / "out.jsonl")) == 3, what="3 creates")
        # The sink writes its batch before its cursor records it: wait for the record too.
        wait_for(lambda: all(c.position >= svc.store.last_seq() for c in svc.store.cursors()), what="cursors at the end")
        svc._prune()
        assert list(svc.store.history()) == []

    def test_undelivered_history_is_kept(self, tmp_path: Path, make_service) -> None:
        """Notifications a durable sink has not received yet are never pruned."""
        inv = tmp_path / "inv.jsonl"
        write_inventory(inv, vms(3))
        (tmp_path / "blocked").mkdir()
        svc = make_service([static_source("inv", inv, interval=3600)], sink=tmp_path / "blocked", baseline={"history_days": 0})
        wait_for(lambda: sample(svc, "poller_runs_total", source="inv", status="ok") == 1, what="the first run")
        svc._prune()
        assert len(list(svc.store.history())) == 3


class TestStartAndMisfires:
    """run_at_start and misfire accounting."""

    def test_run_at_start_false_waits_for_the_schedule(self, tmp_path: Path, make_service) -> None:
        """With run_at_start false, the first run waits for the first scheduled time."""
        inv = tmp_path / "inv.jsonl"
        write_inventory(inv, vms(1))
        svc = make_service([static_source("inv", inv, interval=3600, run_at_start=False)])
        job = svc._scheduler.get_job("source:inv")
        assert (job.next_run_time - datetime.now(UTC)).total_seconds() > 3500
        time.sleep(1.0)
        assert svc.store.runs("inv") == []

    def test_misfire_is_counted(self, tmp_path: Path, make_service) -> None:
        """F24: A fire APScheduler reports as missed is logged and counted per source."""
        inv = tmp_path / "inv.jsonl"
        write_inventory(inv, vms(1))
        svc = make_service([static_source("inv", inv, interval=3600, run_at_start=False)])
        svc._on_event(JobExecutionEvent(EVENT_JOB_MISSED, "source:inv", "default", datetime.now(UTC)))
        assert sample(svc, "poller_run_misfires_total", source="inv") == 1


def test_busy_metrics_port_is_one_clear_error(tmp_path: Path) -> None:
    """A metrics port already in use fails start() with a PollerError naming service.metrics_port."""
    import socket

    from poller.errors import PollerError

    inv = tmp_path / "inv.jsonl"
    write_inventory(inv, vms(1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=None,
                           sources=[static_source("inv", inv)], service={"metrics_port": taken.getsockname()[1]})
        config = load_config(str(cfg))
        store = open_store(config.baseline.url)
        try:
            with pytest.raises(PollerError, match="service.metrics_port: cannot listen on 127.0.0.1"):
                Service(str(cfg), config, store).start()
        finally:
            store.close()
