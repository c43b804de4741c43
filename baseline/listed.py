"""What one listing held, by key digest, compared with the baseline index after the fact.

Collects the key digests and hashes the hash batches return (in listing order), then answers
what the per-entity diff used to: which keys were listed twice (with the same or another
hash), how many distinct keys there were, which baseline keys were absent. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from baseline.diff import Seen
from baseline.index import BaselineIndex, key_digest


@dataclass(frozen=True)
class Repeats:
    """Keys listed more than once: with the same hash (collapsed) or another (a conflict)."""

    duplicates: tuple[int, ...] = ()  # key digests listed again with the same hash
    conflict: int | None = None  # a key digest listed again with another hash


@dataclass
class ListedDiff:
    """The digests a listing held; ``finish`` once the listing ended, before asking anything else."""

    index: BaselineIndex
    _digests: list[np.ndarray] = field(default_factory=list)
    _hashes: list[np.ndarray] = field(default_factory=list)
    _listed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _extra: dict[str, int] = field(default_factory=dict)  # observed one by one after the listing

    @property
    def baseline(self) -> BaselineIndex:
        """The baseline index the listing is compared with."""
        return self.index

    def add(self, digests: np.ndarray, hashes: np.ndarray) -> None:
        """Remember one batch's key digests and hashes."""
        if len(digests):
            self._digests.append(digests)
            self._hashes.append(hashes)

    def finish(self) -> Repeats:
        """Sort what was listed; the keys listed more than once."""
        digests = np.concatenate(self._digests) if self._digests else np.zeros(0, dtype=np.int64)
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.int64)
        self._digests, self._hashes = [], []
        order = np.argsort(digests, kind="stable")
        digests, hashes = digests[order], hashes[order]
        repeated = np.flatnonzero(digests[1:] == digests[:-1]) + 1
        conflict = None
        duplicates: list[int] = []
        for i in repeated:
            if hashes[i] != hashes[i - 1]:
                conflict = int(digests[i]) if conflict is None else conflict
            else:
                duplicates.append(int(digests[i]))
        first = np.ones(len(digests), dtype=bool)
        first[repeated] = False
        self._listed = digests[first]  # sorted and unique (np.unique would sort again)
        return Repeats(tuple(duplicates), conflict)

    @property
    def unique_count(self) -> int:
        """How many distinct keys the listing held."""
        return len(self._listed) + len(self._extra)

    def listed(self, key: str) -> bool:
        """True when the listing (or a later single observation) held ``key``."""
        if key in self._extra:
            return True
        digest = key_digest(key)
        i = int(np.searchsorted(self._listed, digest))
        return i < len(self._listed) and self._listed[i] == digest

    def absent(self) -> list[str]:
        """Baseline keys the listing did not contain, sorted."""
        return [k for k in self.index.absent(self._listed) if k not in self._extra]

    def observe(self, key: str, digest: int) -> Seen:
        """Classify one entity read after the listing (re-fetched to confirm a deletion)."""
        if self.listed(key):
            earlier = self._extra.get(key)
            return Seen.DUPLICATE if earlier == digest else Seen.CONFLICT
        self._extra[key] = digest
        old = self.index.get(key)
        if old is None:
            return Seen.CREATED
        return Seen.UNCHANGED if old == digest else Seen.UPDATED
