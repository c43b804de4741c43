"""A spool of pending changes for one entity type of one run.

Holds what a listing found changed until the run commits, in memory up to a limit
and on a temporary file beyond it, so a million creations never sit in memory as
Python objects. Never touches the database.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Chunk:
    """Where one pickled list of tuples lies in a spool's file, how many it holds, and whether
    every one is a Pending creation (what a render worker can take without the baseline)."""

    offset: int
    length: int
    count: int
    creations_only: bool


# What a spool holds in memory before it moves to a temporary file.
MEMORY_LIMIT = 32 * 1024 * 1024


class Spool:
    """Append-only store of tuples (Pending records, or committed notifications), read in order
    once written; its chunks can be read by a forked process too (``chunks``, ``read``)."""

    def __init__(self, memory_limit: int | None = None) -> None:
        limit = MEMORY_LIMIT if memory_limit is None else memory_limit
        self._file = tempfile.SpooledTemporaryFile(max_size=limit)  # noqa: SIM115
        self._batch: list[tuple[Any, ...]] = []
        self._chunks: list[Chunk] = []
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

    def append_chunk(self, chunk: bytes, count: int, *, creations_only: bool = False) -> None:
        """Remember ``count`` tuples that ``spool_chunk`` pickled (in another process, say);
        ``creations_only`` when every one is a Pending creation."""
        self._flush()
        self._write(chunk, count, creations_only)

    def _write(self, chunk: bytes, count: int, creations_only: bool) -> None:
        offset = self._file.seek(0, 2)  # after a read, appends still go at the end
        self._file.write(chunk)
        self._chunks.append(Chunk(offset, len(chunk), count, creations_only))
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
            batch, self._batch = self._batch, []
            self.count -= len(batch)  # counted when appended
            self._write(spool_chunk(batch), len(batch), all(item[0] == "create" for item in batch))

    def chunks(self) -> list[Chunk]:
        """The chunks written so far, in order; written through to the file, so that a process
        forked after this call reads them with ``read``."""
        self._flush()
        self._file.flush()
        return list(self._chunks)

    def read(self, chunk: Chunk) -> list[tuple[Any, ...]]:
        """The tuples of one chunk. Safe in a forked process beside others: a file is read at
        the chunk's offset without moving the file position the processes share."""
        if getattr(self._file, "_rolled", True):
            data: Any = os.pread(self._file.fileno(), chunk.length, chunk.offset)
        else:  # still in memory (this process's own copy of it, after a fork)
            with self._file._file.getbuffer() as view:  # type: ignore[attr-defined]
                data = bytes(view[chunk.offset : chunk.offset + chunk.length])
        return pickle.loads(data)  # our own file, written above: trusted

    def close(self) -> None:
        """Drop the spool and its file."""
        self._file.close()


def spool_chunk(items: list[tuple[Any, ...]]) -> bytes:
    """Tuples in the form a Spool's file holds them (``Spool.append_chunk`` takes it as it is)."""
    return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
