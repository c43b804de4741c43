"""A spool of pending changes for one entity type of one run.

Holds what a listing found changed until the run commits, in memory up to a limit
and on a temporary file beyond it, so a million creations never sit in memory as
Python objects. Never touches the database.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

_FLUSH_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Pending:
    """One created or updated entity: its key, signed hash and full document bytes, and the
    digest of the raw record it was read from (None when it was not read from one)."""

    action: str  # create | update
    key: str
    hash: int
    document: bytes
    source_digest: int | None = None


class Spool:
    """Append-only, read-once store of tuples (Pending records, or committed notifications)."""

    def __init__(self, memory_limit: int = 32 * 1024 * 1024) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory_limit)  # noqa: SIM115
        self._batch: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, action: str, key: str, digest: int, document: bytes, source_digest: int | None = None) -> None:
        """Remember one pending change."""
        self.append((action, key, digest, document, source_digest))

    def append(self, item: tuple[Any, ...]) -> None:
        """Remember one tuple."""
        self._batch.append(item)
        self.count += 1
        if len(self._batch) >= _FLUSH_EVERY:
            self._flush()

    def append_chunk(self, chunk: bytes, count: int) -> None:
        """Remember ``count`` tuples that ``spool_chunk`` pickled (in another process, say)."""
        self._flush()
        self._file.seek(0, 2)
        self._file.write(chunk)
        self.count += count

    def items(self) -> Iterator[tuple[Any, ...]]:
        """Every tuple in the order appended."""
        self._flush()
        self._file.seek(0)
        while True:
            try:
                chunk = pickle.load(self._file)  # our own file, written above: trusted
            except EOFError:
                return
            yield from chunk

    def _flush(self) -> None:
        if self._batch:
            self._file.seek(0, 2)  # after a read, appends still go at the end
            self._file.write(spool_chunk(self._batch))
            self._batch = []

    def batches(self) -> Iterator[list[Pending]]:
        """The pending changes in the order added, in batches."""
        batch: list[Pending] = []
        for item in self.items():
            batch.append(Pending(*item))
            if len(batch) >= _FLUSH_EVERY:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        """Drop the spool and its file."""
        self._file.close()


def spool_chunk(items: list[tuple[Any, ...]]) -> bytes:
    """Tuples in the form a Spool's file holds them (``Spool.append_chunk`` takes it as it is)."""
    return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
