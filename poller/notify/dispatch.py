"""The dispatcher: moves notifications from the outbox to the sinks.

Durable sinks get every notification at least once and in outbox order (so in order
per source), from a cursor kept in the database; a sink that is down keeps its
backlog in the outbox and is retried with exponential backoff and jitter, without
holding up other sinks. Non-durable sinks (stdout, callbacks) get what is published
while they run. Never writes baseline rows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from baseline.errors import BaselineError
from baseline.store import OutboxRow, Store
from poller.errors import DeliveryError
from poller.notify.base import OutboxRecord, Sink

log = structlog.get_logger("poller.notify")


@dataclass
class SinkState:
    """What the dispatcher knows about one sink between attempts."""

    failures: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None
    delivered: int = 0
    parked: int = 0


def to_record(row: OutboxRow) -> OutboxRecord:
    """The sink-facing view of a stored notification."""
    return OutboxRecord(row.seq, row.source, row.entity_type, row.action, row.id, row.body)


class Dispatcher:
    """Feeds sinks from the outbox; ``routes`` maps a source to the sink names it may use."""

    def __init__(
        self, store: Store, sinks: Sequence[Sink], routes: Mapping[str, Iterable[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_backoff: float = 300.0,
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.routes = {src: set(names) for src, names in (routes or {}).items()}
        self.clock = clock
        self.max_backoff = max_backoff
        self.state = {s.name: SinkState() for s in self.sinks}

    def add_sink(self, sink: Sink) -> None:
        """Feed one more sink from now on (a durable one starts at the outbox's end)."""
        self.sinks.append(sink)
        self.state[sink.name] = SinkState()
        if sink.durable:
            self.register_cursors()

    @property
    def durable(self) -> list[Sink]:
        """The sinks that keep a cursor."""
        return [s for s in self.sinks if s.durable]

    def register_cursors(self) -> None:
        """Give each new durable sink a cursor at the outbox's end: it receives what comes next."""
        last = None
        for sink in self.durable:
            if self.store.cursor(sink.name) is None:
                last = self.store.last_seq() if last is None else last
                self.store.set_cursor(sink.name, last, self.clock())

    def routed(self, sink: Sink, source: str) -> bool:
        """True when notifications of ``source`` go to ``sink``."""
        names = self.routes.get(source)
        return names is None or sink.name in names

    def publish(self, records: Sequence[OutboxRecord]) -> None:
        """Hand freshly committed notifications to the non-durable sinks."""
        for sink in self.sinks:
            if sink.durable:
                continue
            batch = [r for r in records if self.routed(sink, r.source)]
            if not batch:
                continue
            try:
                sink.deliver(batch)
            except DeliveryError as exc:
                log.warning("sink_delivery_failed", sink=sink.name, error=str(exc))

    def deliver_pending(self, *, force: bool = False, batch_size: int = 500) -> int:
        """Deliver every durable sink's backlog that is due; returns how many were delivered."""
        total = 0
        for sink in self.durable:
            state = self.state[sink.name]
            if not force and time.monotonic() < state.next_attempt:
                continue
            total += self._drain(sink, state, getattr(sink, "batch_size", batch_size) or batch_size)
        return total

    def backlog(self) -> dict[str, int]:
        """Notifications waiting per durable sink."""
        last = self.store.last_seq()
        out = {}
        for sink in self.durable:
            cursor = self.store.cursor(sink.name)
            out[sink.name] = max(0, last - (cursor.position if cursor else last))
        return out

    def _drain(self, sink: Sink, state: SinkState, batch_size: int) -> int:
        delivered = 0
        try:
            cursor = self.store.cursor(sink.name)
            position = cursor.position if cursor else 0
            while True:
                rows = list(self.store.history(after_seq=position, limit=batch_size))
                if not rows:
                    break
                batch = [to_record(r) for r in rows if self.routed(sink, r.source)]
                end = rows[-1].seq
                try:
                    if batch:
                        sink.deliver(batch)
                except DeliveryError as exc:
                    done = batch[: exc.delivered]
                    position = done[-1].seq if done else position
                    delivered += len(done)
                    if exc.retryable:
                        self._failed(sink, state, position, str(exc))
                        return delivered
                    refused = batch[exc.delivered]
                    log.error("notification_parked", sink=sink.name, seq=refused.seq, id=refused.id, error=str(exc))
                    state.parked += 1
                    self.store.set_cursor(sink.name, refused.seq, self.clock(), error=str(exc), parked=[(refused.seq, str(exc))])
                    position = refused.seq
                    continue
                delivered += len(batch)
                position = end
                self.store.set_cursor(sink.name, position, self.clock())
            if state.failures:
                log.info("sink_recovered", sink=sink.name, after_failures=state.failures)
            state.failures, state.next_attempt, state.last_error = 0, 0.0, None
        except BaselineError as exc:
            log.error("dispatch_store_failed", sink=sink.name, error=str(exc))
        state.delivered += delivered
        return delivered

    def _failed(self, sink: Sink, state: SinkState, position: int, error: str) -> None:
        state.failures += 1
        delay = min(self.max_backoff, 2 ** min(state.failures, 16)) * random.uniform(0.5, 1.0)
        state.next_attempt = time.monotonic() + delay
        state.last_error = error
        log.warning("sink_unavailable", sink=sink.name, error=error, retry_in_s=round(delay, 1), failures=state.failures)
        try:
            self.store.set_cursor(sink.name, position, self.clock(), error=error, failures=state.failures)
        except BaselineError:
            log.warning("cursor_update_failed", sink=sink.name)

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # closing must never mask the real outcome
                log.warning("sink_close_failed", sink=sink.name)
