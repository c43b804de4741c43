"""L06 with polls committing while the backlog drains, through the installed CLI.

A first load of POLLER_LOAD_ENTITIES (default 100,000) static entities waits in the outbox while
its webhook receiver is down. Then one ``poller snapshot`` process drains it into a slow-ish
receiver (batches of 500; the first request is held open until the test lets it go) while
another source of the same SQLite baseline is polled by separate ``poller snapshot``
processes, over and over. The figures printed: the drain's seconds, notifications per second
and peak RSS, and how long the other source's runs took (start to commit, from its run
records) with no drain and during it. Asserted, never timed: the other source commits while a
delivery is in flight (its outbox rows come after the backlog and before the drain ended), the
receiver gets every notification exactly once in outbox order (so per entity in order), and
the drain's memory stays far below what the backlog would take in memory.
"""

from __future__ import annotations

import http.server
import os
import sqlite3
import statistics
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bench.inventory import write
from bench.memory import PeakMemory
from tests.e2e.test_delivery_crash import poller_cmd
from tests.poller.service.backends import free_port

N = int(os.environ.get("POLLER_LOAD_ENTITIES", "100000"))
SIDE = 20
pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every notification in arrival order, holds the first
    request until ``release`` is set, and answers each request after ``delay`` seconds."""

    def __init__(self, delay: float = 0.005) -> None:
        self.got: list[tuple[str, str, str, int]] = []  # (id, source, key, run_id): not the entities
        self.requests = 0
        self.first = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests += 1
                if receiver.requests == 1:
                    receiver.first.set()
                    receiver.release.wait(300)
                time.sleep(delay)
                receiver.got.extend((n["id"], n["source"], n["key"], n["run_id"]) for n in orjson.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.handler = Handler
        self.port = free_port()  # nothing listens there until start(): deliveries are refused
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.server: http.server.HTTPServer | None = None

    def start(self) -> None:
        self.server = http.server.HTTPServer(("127.0.0.1", self.port), self.handler)  # one request at a time
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def side_runs(db: Path) -> list[tuple[int, float]]:
    """(run id, seconds from start to commit) of every finished run of the side source."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, started_at, finished_at FROM poller_runs WHERE source = 'side' AND status = 'ok' "
                            "ORDER BY id").fetchall()
    return [(rid, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()) for rid, start, end in rows]


def write_side(path: Path, generation: int) -> None:
    """The side source's small inventory; every entity changes with each generation."""
    path.write_bytes(b"".join(orjson.dumps({"type": "vm", "key": f"side-{i}", "attributes": {"generation": generation}}) + b"\n"
                              for i in range(SIDE)))


def test_L06_backlog_drains_while_another_source_keeps_committing(tmp_path: Path) -> None:
    """L06: an N-row outbox backlog drains in batches into a slow webhook, with bounded memory and every
    notification in outbox order, while another source's polls keep committing (no long lock held)."""
    db = tmp_path / "b.db"
    inventory, side_inventory = tmp_path / "servers.jsonl", tmp_path / "side.jsonl"
    write(inventory, N)
    receiver = Receiver()
    # The receiver is not listening yet: the first load's notifications wait in the outbox.
    drain_config = tmp_path / "drain.yaml"
    drain_config.write_text(yaml.safe_dump({
        "baseline": {"url": f"sqlite:///{db}"},
        "notify": {"sinks": [{"name": "hook", "type": "webhook", "url": receiver.url, "batch_size": 500, "timeout": 300}]},
        # A one-shot command waits this long for its deliveries (default 30 s, less than 1M rows take).
        "service": {"stop_timeout": "2h"},
        "sources": [{"name": "big", "collector": "static", "enabled": False, "options": {"path": str(inventory)}},
                    {"name": "tick", "collector": "noop"}],
    }))
    side_config = tmp_path / "side.yaml"
    side_config.write_text(yaml.safe_dump({
        "baseline": {"url": f"sqlite:///{db}"},
        "sources": [{"name": "side", "collector": "static", "options": {"path": str(side_inventory)}}],
    }))
    first = subprocess.run([*poller_cmd(), "--config", str(drain_config), "snapshot", "--source", "big"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600)
    assert first.returncode == 0 and b"notifications_waiting" in first.stderr, first.stderr.decode()[-2000:]
    generation = 0

    def side_snapshot() -> None:
        nonlocal generation
        generation += 1
        write_side(side_inventory, generation)
        done = subprocess.run([*poller_cmd(), "--config", str(side_config), "snapshot"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=600)
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    for _ in range(3):
        side_snapshot()
    quiet = [seconds for _rid, seconds in side_runs(db)]
    with sqlite3.connect(db) as conn:
        backlog_end = conn.execute("SELECT max(seq) FROM poller_outbox").fetchone()[0]
    receiver.start()
    try:
        started = time.monotonic()
        drain = subprocess.Popen([*poller_cmd(), "--config", str(drain_config), "snapshot", "--source", "tick"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = PeakMemory(drain.pid)
        assert receiver.first.wait(600), "the drain never delivered"
        runs_before = len(side_runs(db))
        for _ in range(2):  # the first batch is in flight and held: the drain is under way
            side_snapshot()
        assert drain.poll() is None and receiver.requests == 1
        with sqlite3.connect(db) as conn:
            held_seqs = [s for (s,) in conn.execute("SELECT seq FROM poller_outbox WHERE source = 'side' AND seq > ?",
                                                    (backlog_end,))]
            cursor = conn.execute("SELECT position FROM poller_sink_cursors WHERE sink = 'hook'").fetchone()[0]
        assert len(held_seqs) == 2 * SIDE and cursor < backlog_end  # committed behind the undelivered backlog
        receiver.release.set()
        while drain.poll() is None:  # and more while the rest drains
            side_snapshot()
        _out, err = drain.communicate(timeout=3600)
        seconds = time.monotonic() - started
        peak.stop()
        assert drain.returncode == 0, err.decode()[-2000:]
    finally:
        receiver.stop()
    during = [s for _rid, s in side_runs(db)[runs_before:]]
    with sqlite3.connect(db) as conn:
        order = [i for (i,) in conn.execute("SELECT id FROM poller_outbox ORDER BY seq")]
    delivered = [nid for nid, _source, _key, _run in receiver.got]
    backlog = sum(1 for _nid, source, _key, _run in receiver.got if source == "big")
    print(f"\nL06 drained {len(delivered)} notifications ({backlog} of the backlog) in {seconds:.1f} s, "
          f"{len(delivered) / seconds:.0f}/s, {receiver.requests} requests, drain peak RSS {peak.rss / 2**20:.0f} MB "
          f"(PSS {peak.pss / 2**20:.0f} MB); "
          f"side runs start to commit: no drain median {statistics.median(quiet):.3f} s max {max(quiet):.3f} s "
          f"({len(quiet)} runs), during the drain median {statistics.median(during):.3f} s max {max(during):.3f} s "
          f"({len(during)} runs)")
    assert backlog == N and len(set(delivered)) == len(delivered)
    assert delivered == order[: len(delivered)]  # outbox order, hence each entity's notifications in order
    side_versions: dict[str, list[int]] = {}
    for _nid, source, key, run_id in receiver.got:
        if source == "side":
            side_versions.setdefault(key, []).append(run_id)
    assert side_versions and all(runs == sorted(runs) for runs in side_versions.values())
    assert peak.rss < 400 * 2**20, "draining holds batches, not the backlog"
