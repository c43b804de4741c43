"""The sink contract: what every notification sink promises the dispatcher.

A sink only delivers what it is handed, in the order handed; cursors, retries and
the outbox belong to the dispatcher. A sink never reads the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One notification as stored in the outbox.

    ``body`` is the notification's JSON object (DESIGN.md's format) serialized as
    UTF-8 bytes; ``seq`` orders the outbox (and so every source's notifications).
    """

    seq: int
    source: str
    entity_type: str
    action: str
    id: str
    body: bytes


class Sink(Protocol):
    """Delivers notifications somewhere; built from ``(name, options)``.

    ``deliver`` returns when every record of the batch got through, else raises
    DeliveryError saying how many did and whether retrying makes sense.
    ``durable`` sinks get a cursor in the database and see every notification at
    least once; others (stdout) see what is produced while they run.
    """

    kind: ClassVar[str]
    durable: ClassVar[bool]
    name: str

    def deliver(self, records: Sequence[OutboxRecord]) -> None: ...

    def close(self) -> None: ...


class SinkFactory(Protocol):
    """A sink class: validates its options on construction (SinkConfigError)."""

    kind: ClassVar[str]
    durable: ClassVar[bool]

    def __call__(self, name: str, options: Mapping[str, Any]) -> Sink: ...
