"""The baseline hashes of one entity type, held compactly for a listing to be compared against.

Keys are found by their 64-bit key digest (xxh3 of the UTF-8 key) in sorted numpy arrays,
so a million entities cost about 64 MB instead of a dict's 160, and a forked hash worker
reads them without copying a page (no Python object per entry, so no reference counts
written). Pure: no database, no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import xxhash

_digest = xxhash.xxh3_64_intdigest

# Lookup outcomes of classify().
CREATED, UPDATED, UNCHANGED = 0, 1, 2


def _encode(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _chunks(rows: Iterable[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= 20000:
            yield chunk
            chunk = []
    yield chunk


def key_digest(key: str) -> int:
    """The signed 64-bit digest of an entity key (the index's sort key)."""
    value = _digest(key.encode("utf-8", "surrogatepass"))
    return value - (1 << 64) if value >= 1 << 63 else value


class BaselineIndex:
    """key -> signed hash of the live baseline entities of one type; answers by key digest.

    Two keys with the same 64-bit digest (about one chance in 2**64 / n**2 per run) are
    told apart wherever a decision names one key (``get``, ``classify``'s updates), but a
    created key colliding with an absent baseline key would hide that deletion for a run.
    """

    def __init__(self, rows: Iterable[tuple[str, int] | tuple[str, int, int | None]] = ()) -> None:
        self._fill(_chunks(rows))

    @classmethod
    def from_chunks(cls, chunks: Iterable[list[Any]]) -> BaselineIndex:
        """Build from lists of (key, hash[, source digest]) rows, as a database cursor returns them."""
        index = cls.__new__(cls)
        index._fill(chunks)
        return index

    def _fill(self, chunks: Iterable[list[Any]]) -> None:
        # Chunk by chunk into numpy arrays and one blob, with C-level map()s: a million rows cost
        # well under a second, and no Python object per row outlives its chunk.
        digest_parts: list[np.ndarray] = []
        hash_parts: list[np.ndarray] = []
        source_parts: list[np.ndarray] = []
        length_parts: list[np.ndarray] = []
        blob_parts: list[bytes] = []
        for chunk in chunks:
            if not chunk:
                continue
            columns = list(zip(*chunk, strict=True))
            keys = list(map(_encode, columns[0]))
            digest_parts.append(np.fromiter(map(_digest, keys), dtype=np.uint64, count=len(keys)))
            hash_parts.append(np.fromiter(columns[1], dtype=np.int64, count=len(keys)))
            sources = columns[2] if len(columns) > 2 else ()
            source_parts.append(np.fromiter((0 if v is None else v for v in sources), dtype=np.int64, count=len(sources))
                                if sources else np.zeros(len(keys), dtype=np.int64))
            length_parts.append(np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)))
            blob_parts.append(b"".join(keys))
            del columns, keys
        empty = np.zeros(0, dtype=np.int64)
        lengths = np.concatenate(length_parts) if length_parts else empty
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        blob = b"".join(blob_parts)
        del blob_parts, length_parts
        unsigned = np.concatenate(digest_parts) if digest_parts else np.zeros(0, dtype=np.uint64)
        hashes = np.concatenate(hash_parts) if hash_parts else empty
        sources_all = np.concatenate(source_parts) if source_parts else empty
        del digest_parts, hash_parts, source_parts
        # xxh3 digests are unsigned: seen as int64 they keep their order within each half, and
        # sorting the int64 view is all the lookups need.
        unsorted = unsigned.view(np.int64)
        order = np.argsort(unsorted, kind="stable")
        self.digests = unsorted[order]
        self.hashes = hashes[order]
        self._position = order.astype(np.int64)  # sorted index -> position of its key in the blob
        self._offsets = offsets
        self._blob = blob
        by_entity = sources_all[order]
        known = np.flatnonzero(by_entity != 0)
        source_order = np.argsort(by_entity[known], kind="stable")
        self._sources = by_entity[known][source_order]
        self._source_entity = known[source_order]

    def by_source(self, sources: np.ndarray) -> np.ndarray:
        """For each raw-record digest, the sorted index of the entity last read from a record with
        that digest, or -1 (never seen, or not known)."""
        out = np.full(len(sources), -1, dtype=np.int64)
        if not len(self._sources) or not len(sources):
            return out
        found = np.searchsorted(self._sources, sources)
        found[found >= len(self._sources)] = 0
        hit = (self._sources[found] == sources) & (sources != 0)
        out[hit] = self._source_entity[found[hit]]
        return out

    def __len__(self) -> int:
        return len(self.digests)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def key_at(self, index: int) -> str:
        """The key stored at a sorted position."""
        position = int(self._position[index])
        start, end = int(self._offsets[position]), int(self._offsets[position + 1])
        return self._blob[start:end].decode("utf-8", "surrogatepass")

    def _find(self, key: str) -> int | None:
        digest = key_digest(key)
        index = int(np.searchsorted(self.digests, digest))
        while index < len(self.digests) and self.digests[index] == digest:
            if self.key_at(index) == key:
                return index
            index += 1
        return None

    def get(self, key: str) -> int | None:
        """The key's hash, or None when the baseline does not hold it."""
        index = self._find(key)
        return None if index is None else int(self.hashes[index])

    def keys(self) -> list[str]:
        """Every key, in digest order."""
        return [self.key_at(i) for i in range(len(self))]

    def classify(self, keys: list[str], digests: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """CREATED, UPDATED or UNCHANGED for each (key, key digest, hash) of a batch.

        UNCHANGED needs both 64-bit digests equal; an update is confirmed on the key itself.
        """
        states = np.zeros(len(digests), dtype=np.int8)
        if not len(self.digests) or not len(digests):
            return states
        found = np.searchsorted(self.digests, digests)
        found[found >= len(self.digests)] = 0
        present = self.digests[found] == digests
        same = present & (self.hashes[found] == hashes)
        states[same] = UNCHANGED
        for i in np.flatnonzero(present & ~same):
            if self._find(keys[i]) is not None:
                states[i] = UPDATED
        return states

    def absent(self, listed: np.ndarray) -> list[str]:
        """The keys whose digest is not among ``listed`` (sorted digests), sorted."""
        if not len(self.digests):
            return []
        if not len(listed):
            return sorted(self.key_at(i) for i in range(len(self.digests)))
        found = np.searchsorted(listed, self.digests)  # both sorted: no hashing, no second sort
        found[found >= len(listed)] = 0
        missing = np.flatnonzero(listed[found] != self.digests)
        return sorted(self.key_at(int(i)) for i in missing)

    def key_for_digest(self, digest: int) -> str | None:
        """A key with this digest, if the baseline holds one."""
        index = int(np.searchsorted(self.digests, digest))
        if index < len(self.digests) and self.digests[index] == digest:
            return self.key_at(index)
        return None
