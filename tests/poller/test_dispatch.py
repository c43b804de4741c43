"""The dispatcher: durable cursors, backlog while a sink is down, parking, routing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson

from baseline.store import Store
from poller.errors import DeliveryError
from poller.notify.base import OutboxRecord
from poller.notify.dispatch import Dispatcher
from poller.notify.jsonl import JsonlSink
from tests.poller.helpers import run, vm


def keys(path: Path) -> list[str]:
    return [orjson.loads(line)["key"] for line in path.read_text().splitlines()]


class RefusingSink:
    """A sink that refuses one key for good (like a webhook's 4xx) and takes the rest."""

    kind: ClassVar[str] = "refusing"
    durable: ClassVar[bool] = True

    def __init__(self, name: str, refuse: str) -> None:
        self.name, self.refuse, self.got = name, refuse, []  # type: ignore[var-annotated]

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        for index, record in enumerate(records):
            if orjson.loads(record.body)["key"] == self.refuse:
                raise DeliveryError("HTTP 400: bad entity", delivered=index, retryable=False)
            self.got.append(orjson.loads(record.body)["key"])

    def close(self) -> None:
        pass


class TestDurableDelivery:
    """At least once, in order, through outages."""

    def test_backlog_waits_while_down_then_arrives_in_order(self, store: Store, clock: Any, tmp_path: Path) -> None:
        """F18: A sink that cannot write keeps its backlog; once it can, everything arrives in order."""
        blocker = tmp_path / "blocked"
        blocker.write_text("a file where a directory should be")
        sink = JsonlSink("file", {"path": str(blocker / "out.jsonl")})
        dispatcher = Dispatcher(store, [sink])
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b")], clock)
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        assert dispatcher.deliver_pending(force=True) == 0
        assert dispatcher.backlog() == {"file": 3}
        assert "cannot write" in (store.cursor("file").last_error or "")  # type: ignore[union-attr]
        blocker.unlink()
        assert dispatcher.deliver_pending(force=True) == 3
        assert keys(blocker / "out.jsonl") == ["a", "b", "c"]
        assert dispatcher.backlog() == {"file": 0}

    def test_cursor_survives_a_new_dispatcher(self, store: Store, clock: Any, tmp_path: Path) -> None:
        """A restarted process delivers only what its predecessor did not."""
        out = tmp_path / "out.jsonl"
        first = Dispatcher(store, [JsonlSink("file", {"path": str(out)})])
        first.register_cursors()
        run(store, [vm("a")], clock)
        first.deliver_pending(force=True)
        run(store, [vm("a"), vm("b")], clock)
        second = Dispatcher(store, [JsonlSink("file", {"path": str(out)})])
        second.register_cursors()
        second.deliver_pending(force=True)
        assert keys(out) == ["a", "b"]

    def test_new_sink_starts_at_the_end(self, store: Store, clock: Any, tmp_path: Path) -> None:
        """A sink added later receives what comes after it was added (replay covers history)."""
        run(store, [vm("a")], clock)
        out = tmp_path / "out.jsonl"
        dispatcher = Dispatcher(store, [JsonlSink("late", {"path": str(out)})])
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b")], clock)
        dispatcher.deliver_pending(force=True)
        assert keys(out) == ["b"]

    def test_refused_record_is_parked_and_the_rest_flows(self, store: Store, clock: Any) -> None:
        """A permanent refusal parks that one record; later ones are delivered."""
        sink = RefusingSink("hook", refuse="b")
        dispatcher = Dispatcher(store, [sink])  # type: ignore[list-item]
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        dispatcher.deliver_pending(force=True)
        assert sink.got == ["a", "c"] and dispatcher.state["hook"].parked == 1

    def test_routing_limits_sources(self, store: Store, clock: Any, tmp_path: Path) -> None:
        """A sink routed to other sources skips this one's notifications (and moves on)."""
        out = tmp_path / "out.jsonl"
        dispatcher = Dispatcher(store, [JsonlSink("file", {"path": str(out)})], routes={"src": ["other"]})
        dispatcher.register_cursors()
        run(store, [vm("a")], clock)
        dispatcher.deliver_pending(force=True)
        assert not out.exists() and dispatcher.backlog() == {"file": 0}

    def test_rotation_by_size(self, tmp_path: Path) -> None:
        """The jsonl sink rotates when a batch would pass max_bytes."""
        out = tmp_path / "out.jsonl"
        sink = JsonlSink("file", {"path": str(out), "max_bytes": 50, "backups": 2})
        for seq in range(4):
            sink.deliver([OutboxRecord(seq, "s", "t", "create", str(seq), b'{"padding":"' + b"x" * 30 + b'"}')])
        assert out.exists() and (tmp_path / "out.jsonl.1").exists() and (tmp_path / "out.jsonl.2").exists()
        assert not (tmp_path / "out.jsonl.3").exists()
