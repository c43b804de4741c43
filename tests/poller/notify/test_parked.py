"""Parked notifications stay visible until replayed (issue 12, item 5): status shows them, a
parked replay re-delivers exactly those (same ids), and pruning history keeps them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from baseline.store import Store
from poller.errors import DeliveryError
from poller.notify import admin
from poller.notify.base import OutboxRecord
from poller.notify.dispatch import Dispatcher
from poller.notify.jsonl import JsonlSink
from tests.poller.helpers import run, vm


class Gatekeeper:
    """A durable sink that refuses (for good) the keys in ``refuse`` and takes the rest; ``down`` makes it unreachable."""

    kind: ClassVar[str] = "gatekeeper"
    durable: ClassVar[bool] = True

    def __init__(self, name: str, refuse: set[str]) -> None:
        self.name, self.refuse, self.down = name, refuse, False
        self.got: list[str] = []  # ids received

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        if self.down:
            raise DeliveryError("connection refused", delivered=0, retryable=True)
        for index, record in enumerate(records):
            if orjson.loads(record.body)["key"] in self.refuse:
                raise DeliveryError(f"HTTP 404 for {record.id}", delivered=index, retryable=False)
            self.got.append(record.id)

    def close(self) -> None:
        pass


def ids_of(store: Store, keys: set[str]) -> list[str]:
    return [row.id for row in store.history() if row.key in keys]


@pytest.fixture
def parked_store(store: Store, clock: Any) -> tuple[Store, Gatekeeper]:
    """A store whose sink 'hook' parked the notifications of keys b and d (a, c, e got through)."""
    sink = Gatekeeper("hook", {"b", "d"})
    dispatcher = Dispatcher(store, [sink])
    dispatcher.register_cursors()
    run(store, [vm(k) for k in "abcde"], clock)
    dispatcher.deliver_pending(force=True)
    dispatcher.close()
    assert dispatcher.parked() == {"hook": 2}
    return store, sink


class TestParkedStatus:
    def test_status_shows_parked_count_first_time_and_reason(self, parked_store: tuple[Store, Gatekeeper]) -> None:
        """notifications status keeps showing parked notifications (count, first parked, last error) after the cursor passed."""
        store, sink = parked_store
        [row] = admin.status(store, [sink])  # type: ignore[list-item]
        assert (row.backlog, row.parked) == (0, 2)
        assert row.first_parked is not None and "HTTP 404" in (row.parked_error or "")
        assert row.as_dict()["parked"] == 2 and isinstance(row.as_dict()["first_parked"], str)

    def test_status_of_a_sink_without_parked(self, store: Store, tmp_path: Path) -> None:
        """A sink that parked nothing shows 0 and no first-parked time."""
        sink = JsonlSink("file", {"path": str(tmp_path / "o.jsonl")})
        Dispatcher(store, [sink]).register_cursors()
        [row] = admin.status(store, [sink])
        assert (row.parked, row.first_parked, row.parked_error) == (0, None, None)


class TestParkedReplay:
    def test_replay_sends_exactly_the_parked_with_their_ids(self, parked_store: tuple[Store, Gatekeeper]) -> None:
        """replay --parked re-delivers only the parked notifications, same ids, in order, then forgets them."""
        store, _ = parked_store
        fixed = Gatekeeper("hook", set())
        done = admin.replay_parked(store, fixed)  # type: ignore[arg-type]
        assert fixed.got == ids_of(store, {"b", "d"}) and (done.sent, done.refused, done.left) == (2, 0, 0)
        assert store.parked_summary() == {}
        assert admin.replay_parked(store, fixed).sent == 0  # type: ignore[arg-type]

    def test_refused_again_stays_parked_with_the_new_reason(self, parked_store: tuple[Store, Gatekeeper]) -> None:
        """A parked notification refused again stays parked; the others get through."""
        store, _ = parked_store
        still = Gatekeeper("hook", {"d"})
        done = admin.replay_parked(store, still)  # type: ignore[arg-type]
        assert still.got == ids_of(store, {"b"}) and (done.sent, done.refused, done.left) == (1, 1, 1)
        assert store.parked_summary()["hook"].count == 1

    def test_sink_down_stops_the_replay_and_keeps_them_parked(self, parked_store: tuple[Store, Gatekeeper]) -> None:
        """A sink that is down stops the replay with an error; nothing is forgotten."""
        store, _ = parked_store
        down = Gatekeeper("hook", set())
        down.down = True
        with pytest.raises(DeliveryError, match="2 still parked"):
            admin.replay_parked(store, down)  # type: ignore[arg-type]
        assert store.parked_summary()["hook"].count == 2

    def test_prune_keeps_parked_notifications(self, parked_store: tuple[Store, Gatekeeper]) -> None:
        """Pruning delivered history never removes a parked notification: it can still be replayed."""
        store, _ = parked_store
        store.prune_history(datetime.now(UTC) + timedelta(days=365), store.last_seq())
        assert sorted(r.key for r in store.history()) == ["b", "d"]
        fixed = Gatekeeper("hook", set())
        assert admin.replay_parked(store, fixed).sent == 2  # type: ignore[arg-type]
