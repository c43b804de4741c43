"""Looking after notifications: backlog and parked status per sink, replaying history
or the parked notifications to a sink.

Reads the outbox, cursors and parked records through the store; replay sends copies and
never moves a cursor (consumers deduplicate by id); a parked replay forgets each parked
record once the sink took it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baseline.store import Store
from poller.errors import ConfigError, DeliveryError
from poller.notify.base import Sink
from poller.notify.dispatch import to_record


@dataclass(frozen=True)
class SinkStatus:
    """A durable sink's delivery state."""

    sink: str
    kind: str
    position: int | None
    backlog: int
    oldest_pending: datetime | None
    last_error: str | None
    failures: int
    parked: int = 0
    first_parked: datetime | None = None
    parked_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The status as a JSON-able object (times in ISO 8601)."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else value for key, value in self.__dict__.items()
        }


def status(store: Store, sinks: Sequence[Sink]) -> list[SinkStatus]:
    """Backlog, oldest pending notification, last error and parked notifications of each durable sink."""
    out = []
    last = store.last_seq()
    parked = store.parked_summary()
    for sink in sinks:
        if not sink.durable:
            continue
        cursor = store.cursor(sink.name)
        position = cursor.position if cursor else None
        oldest = None
        if position is not None and position < last:
            first = next(store.history(after_seq=position, limit=1), None)
            oldest = first.created_at if first else None
        held = parked.get(sink.name)
        out.append(SinkStatus(
            sink.name, sink.kind, position, 0 if position is None else max(0, last - position), oldest,
            cursor.last_error if cursor else None, cursor.failures if cursor else 0,
            held.count if held else 0, held.first_parked_at if held else None, held.last_reason if held else None,
        ))
    return out


@dataclass(frozen=True)
class ParkedReplay:
    """What a replay of parked notifications did: sent, parked again (refused anew), left parked."""

    sent: int
    refused: int
    left: int


def replay_parked(store: Store, sink: Sink, *, batch_size: int = 200) -> ParkedReplay:
    """Send ``sink``'s parked notifications again (same ids, outbox order); each one the sink
    takes is no longer parked, one it refuses again stays parked with the new reason.

    Stops (DeliveryError) when the sink is down: what was not sent stays parked. Writes
    (forgets parked records): it needs a writable store, unlike ``status``.
    """
    sent = refused = 0
    position = 0
    while True:
        rows = store.parked_notifications(sink.name, after_seq=position, limit=batch_size)
        if not rows:
            break
        batch = [to_record(r) for r in rows]
        while batch:
            try:
                sink.deliver(batch)
            except DeliveryError as exc:
                done, batch = batch[: exc.delivered], batch[exc.delivered :]
                store.unpark(sink.name, [r.seq for r in done])
                sent += len(done)
                if exc.retryable:
                    left = sum(s.count for s in store.parked_summary().values() if s.sink == sink.name)
                    raise DeliveryError(
                        f"replay of parked notifications to sink {sink.name} stopped after {sent}: {exc} "
                        f"({left} still parked)", delivered=sent,
                    ) from exc
                store.park(sink.name, batch[0].seq, datetime.now(UTC), str(exc))
                refused += 1
                batch = batch[1:]
                continue
            store.unpark(sink.name, [r.seq for r in batch])
            sent += len(batch)
            batch = []
        position = rows[-1].seq
    summary = store.parked_summary().get(sink.name)
    return ParkedReplay(sent, refused, summary.count if summary else 0)


def replay(
    store: Store, sink: Sink, *, since: datetime | None, source: str | None = None, entity_type: str | None = None,
    batch_size: int = 200,
) -> int:
    """Send recorded notifications (oldest first) to ``sink`` again; returns how many were sent."""
    sent = 0
    batch = []
    for row in store.history(source=source, since=since, entity_type=entity_type):
        batch.append(to_record(row))
        if len(batch) >= batch_size:
            sent += _send(sink, batch)
            batch = []
    if batch:
        sent += _send(sink, batch)
    return sent


def _send(sink: Sink, batch: list) -> int:  # type: ignore[type-arg]
    try:
        sink.deliver(batch)
    except DeliveryError as exc:
        raise ConfigError(f"replay to sink {sink.name} stopped after {exc.delivered} of this batch: {exc}") from exc
    return len(batch)
