"""Several runs of several sources at once, with a dispatcher delivering meanwhile: every
recorded notification reaches a durable jsonl sink (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from baseline.store import Store
from poller.config import SourceConfig
from poller.notify.dispatch import Dispatcher
from poller.notify.jsonl import JsonlSink
from tests.poller.helpers import run, vm


@pytest.mark.slow
def test_concurrent_runs_deliver_every_notification_to_a_jsonl_sink(store: Store, clock: Any, tmp_path: Path) -> None:
    """Two bulk sources (2,000 entities each, then churned) and three small sources changing every
    round commit concurrently while a dispatcher delivers: the sink receives every outbox row
    (the cursor never skipped a notification that committed after a higher seq)."""
    out = tmp_path / "out.jsonl"
    dispatcher = Dispatcher(store, [JsonlSink("file", {"path": str(out)})])
    dispatcher.register_cursors()
    stop = threading.Event()
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            while not stop.is_set():
                dispatcher.deliver_pending(force=True)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def source_runs(name: str, size: int, rounds: int) -> None:
        try:
            for r in range(rounds):
                entities = [vm(f"{name}-{i}", rev=(r if i % (10 if size > 100 else 1) == 0 else 0))
                            for i in range(size) if not (r and i % 7 == r % 7)]
                src = SourceConfig(name=name, collector="static", options={"entities": entities})
                result, _ = run(store, entities, clock, source=src)
                assert result.status == "ok", result.error
        except BaseException as exc:
            errors.append(exc)

    deliverer = threading.Thread(target=deliver)
    deliverer.start()
    runners = [threading.Thread(target=source_runs, args=(f"bulk{i}", 2000, 3)) for i in range(2)]
    runners += [threading.Thread(target=source_runs, args=(f"small{i}", 5, 12)) for i in range(3)]
    for t in runners:
        t.start()
    for t in runners:
        t.join(600)
    stop.set()
    deliverer.join(120)
    dispatcher.deliver_pending(force=True)
    dispatcher.close()
    assert errors == []
    recorded = {row.id for row in store.history()}
    delivered = [orjson.loads(line)["id"] for line in out.read_bytes().splitlines() if line.strip()]
    assert len(recorded) > 4000
    assert recorded - set(delivered) == set()
