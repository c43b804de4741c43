"""Looking after notifications: backlog status per sink and replaying history to a sink.

Reads the outbox and cursors through the store; replay sends copies and never moves a
cursor (consumers deduplicate by id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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


def status(store: Store, sinks: Sequence[Sink]) -> list[SinkStatus]:
    """Backlog, oldest pending notification and last error of each durable sink."""
    out = []
    last = store.last_seq()
    for sink in sinks:
        if not sink.durable:
            continue
        cursor = store.cursor(sink.name)
        position = cursor.position if cursor else None
        oldest = None
        if position is not None and position < last:
            first = next(store.history(after_seq=position, limit=1), None)
            oldest = first.created_at if first else None
        out.append(SinkStatus(
            sink.name, sink.kind, position, 0 if position is None else max(0, last - position), oldest,
            cursor.last_error if cursor else None, cursor.failures if cursor else 0,
        ))
    return out


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
