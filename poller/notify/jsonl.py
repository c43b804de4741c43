"""The ``jsonl`` sink: append notifications to a file, fsync per batch, rotate by size.

Durable: the dispatcher keeps its cursor in the database, so a crash between the
write and the cursor update repeats at most one batch (same ids). Never truncates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.base import OutboxRecord


class JsonlSink:
    """Appends one JSON line per notification to ``path``.

    Options: ``path`` (required), ``max_bytes`` (rotate when the file would grow past
    it; 0 = never, the default) and ``backups`` (rotated files kept, default 5).
    """

    kind: ClassVar[str] = "jsonl"
    durable: ClassVar[bool] = True

    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        self.name = name
        for field in options:
            if field not in ("path", "max_bytes", "backups", "batch_size"):
                raise SinkConfigError(f"notify.sinks.{name}.{field}: unknown option (path, max_bytes, backups)")
        path = options.get("path")
        if not isinstance(path, str) or not path:
            raise SinkConfigError(f"notify.sinks.{name}.path: is required")
        self.path = Path(path).expanduser()
        self.max_bytes = _int(name, options, "max_bytes", 0)
        self.backups = _int(name, options, "backups", 5)
        self.batch_size = _int(name, options, "batch_size", 500) or 500

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """Append the batch and fsync it before returning."""
        data = b"".join(r.body + b"\n" for r in records)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.max_bytes and self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise DeliveryError(f"sink {self.name}: cannot write {self.path} ({exc.strerror})") from exc

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()

    def close(self) -> None:
        """Nothing stays open between batches."""


def _int(name: str, options: Mapping[str, Any], field: str, default: int) -> int:
    value = options.get(field, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SinkConfigError(f"notify.sinks.{name}.{field}: must be an integer >= 0")
    return value
