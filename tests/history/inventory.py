"""The inventories the workload serves and their mutation log: which content every entity had, and when.

Owns the inventory files (static JSON Lines, replaced atomically), the deterministic content of
an entity at a version, and the log format the checker reads back. Never talks to the poller.
"""

from __future__ import annotations

import bisect
import os
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

TYPES = ("vm", "net")
EntityKey = tuple[str, str, str]  # (source, type, key)


def content(source: str, entity_type: str, key: str, version: int) -> dict[str, Any]:
    """The attributes an entity has at ``version`` (deterministic: the checker recomputes them)."""
    return {"v": version, "label": f"{source}/{entity_type}/{key}#{version}", "size": (version * 7919) % 1000}


def record(source: str, entity_type: str, key: str, version: int) -> dict[str, Any]:
    """One static-collector record of the entity at ``version``."""
    return {"type": entity_type, "key": key, "name": key, "attributes": content(source, entity_type, key, version)}


@dataclass
class Inventory:
    """One source's inventory file and its live entities; every rewrite is logged as a generation."""

    source: str
    path: Path
    log: MutationLog
    alive: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, key) -> version
    gone: dict[tuple[str, str], int] = field(default_factory=dict)  # deleted: last version
    next_key: int = 0

    def new_key(self) -> tuple[str, str]:
        self.next_key += 1
        return TYPES[self.next_key % len(TYPES)], f"{self.source}-e{self.next_key}"

    def create(self, count: int) -> list[tuple[str, str, int | None]]:
        """``count`` new entities at version 1."""
        changes: list[tuple[str, str, int | None]] = []
        for _ in range(count):
            etype, key = self.new_key()
            self.alive[(etype, key)] = 1
            changes.append((etype, key, 1))
        return changes

    def churn(self, rng: random.Random, operations: int) -> list[tuple[str, str, int | None]]:
        """Random updates, deletions, creations and re-creations; a re-created key continues its versions."""
        changes: list[tuple[str, str, int | None]] = []
        for _ in range(operations):
            roll = rng.random()
            if roll < 0.5 and self.alive:
                ident = rng.choice(list(self.alive))
                self.alive[ident] += 1
                changes.append((*ident, self.alive[ident]))
            elif roll < 0.7 and len(self.alive) > 5:
                ident = rng.choice(list(self.alive))
                self.gone[ident] = self.alive.pop(ident)
                changes.append((*ident, None))
            elif roll < 0.85 and self.gone:
                ident = rng.choice(list(self.gone))
                self.alive[ident] = self.gone.pop(ident) + 1
                changes.append((*ident, self.alive[ident]))
            else:
                changes.extend(self.create(1))
        return changes

    def update_fraction(self, rng: random.Random, fraction: float) -> list[tuple[str, str, int | None]]:
        """Bump the version of a random ``fraction`` of the live entities."""
        chosen = rng.sample(list(self.alive), int(len(self.alive) * fraction))
        for ident in chosen:
            self.alive[ident] += 1
        return [(*ident, self.alive[ident]) for ident in chosen]

    def write(self, changes: list[tuple[str, str, int | None]]) -> None:
        """Replace the file atomically with the live entities and log the generation with its rename time."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as handle:
            for (etype, key), version in self.alive.items():
                handle.write(orjson.dumps(record(self.source, etype, key, version)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        before = time.time()
        os.replace(tmp, self.path)
        after = time.time()
        self.log.append(self.source, before, after, changes)


class MutationLog:
    """Appends one JSON line per inventory generation: source, generation number, rename window, changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generations: dict[str, int] = {}
        self._handle = path.open("ab")

    def append(self, source: str, before: float, after: float, changes: list[tuple[str, str, int | None]]) -> None:
        gen = self.generations.get(source, -1) + 1
        self.generations[source] = gen
        line = {"source": source, "gen": gen, "t0": before, "t1": after, "changes": changes}
        self._handle.write(orjson.dumps(line) + b"\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


@dataclass
class SourceHistory:
    """One source's generations read back: rename windows and each entity's version per generation."""

    t0: list[float] = field(default_factory=list)
    t1: list[float] = field(default_factory=list)
    entities: dict[tuple[str, str], tuple[list[int], list[int | None]]] = field(default_factory=dict)

    def version_at(self, ident: tuple[str, str], gen: int) -> int | None:
        """The entity's version in generation ``gen`` (None: absent)."""
        gens, versions = self.entities.get(ident, ([], []))
        index = bisect.bisect_right(gens, gen) - 1
        return versions[index] if index >= 0 else None

    def generations_during(self, start: float, end: float) -> range:
        """Generations that may have been the file's content at some moment in [start, end] (leniently:
        a generation counts from before its rename until after the next one's rename)."""
        first = max(0, bisect.bisect_left(self.t1, start) - 1)  # the next generation's rename ended after start
        upto = bisect.bisect_right(self.t0, end) - 1  # renamed (begun) by end
        return range(first, upto + 1)

    def versions_during(self, ident: tuple[str, str], start: float, end: float) -> set[int | None]:
        """Every version (None: absent) the entity had in a generation current during [start, end]."""
        return {self.version_at(ident, gen) for gen in self.generations_during(start, end)}

    def final(self) -> dict[tuple[str, str], int]:
        """The live entities of the last generation and their versions."""
        last = len(self.t0) - 1
        out = {}
        for ident in self.entities:
            version = self.version_at(ident, last)
            if version is not None:
                out[ident] = version
        return out


def read_log(lines: Iterable[bytes]) -> dict[str, SourceHistory]:
    """The mutation log read back into one SourceHistory per source."""
    histories: dict[str, SourceHistory] = {}
    for line in lines:
        if not line.strip():
            continue
        item = orjson.loads(line)
        history = histories.setdefault(item["source"], SourceHistory())
        assert item["gen"] == len(history.t0), f"mutation log out of order at {item['source']} gen {item['gen']}"
        history.t0.append(item["t0"])
        history.t1.append(item["t1"])
        for etype, key, version in item["changes"]:
            gens, versions = history.entities.setdefault((etype, key), ([], []))
            gens.append(item["gen"])
            versions.append(version)
    return histories


def read_log_file(path: Path) -> dict[str, SourceHistory]:
    """``read_log`` over a mutation log file."""
    with path.open("rb") as handle:
        return read_log(iter(handle))


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or None for a line that is not JSON) for each non-empty line."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, None
