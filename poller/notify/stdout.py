"""The ``stdout`` sink: notifications as JSON lines on standard output.

Not durable: it shows what the service produces while it runs. Never buffers past a batch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.base import OutboxRecord


class StdoutSink:
    """Writes each notification as one JSON line to stdout and flushes per batch."""

    kind: ClassVar[str] = "stdout"
    durable: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        for field in options:
            raise SinkConfigError(f"notify.sinks.{name}.{field}: unknown option (stdout takes none)")
        self.name = name

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """Print the batch."""
        out = sys.stdout.buffer
        try:
            for record in records:
                out.write(record.body + b"\n")
            out.flush()
        except OSError as exc:
            raise DeliveryError(f"sink {self.name}: stdout closed ({exc.strerror})", retryable=False) from exc

    def close(self) -> None:
        """Nothing to release."""
