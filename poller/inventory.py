"""Baseline maintenance for people: show, export, import and reset.

Owns the export format (JSON Lines, one baseline entity per line with its stored
document); goes through the store for every read and write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from baseline.canonical import canonical_bytes
from baseline.store import Store, compress, to_signed, to_unsigned
from poller.errors import ConfigError


@dataclass(frozen=True)
class TypeSummary:
    """One (source, type) of the baseline: how many live entities, and the source's epoch."""

    source: str
    entity_type: str
    count: int
    epoch: str | None


def show(store: Store, source: str | None = None) -> list[TypeSummary]:
    """Counts per source and type."""
    counts = store.counts(source)
    epochs = {s: store.epoch(s) for s in {src for src, _ in counts}}
    return [TypeSummary(src, t, n, epochs[src]) for (src, t), n in sorted(counts.items())]


def export_rows(store: Store, source: str | None = None) -> Iterator[dict[str, Any]]:
    """The baseline as dicts carrying source and type, ready for ``import_rows``."""
    for e in store.iter_entities(source):
        yield {
            "source": e.source,
            "entity_type": e.entity_type,
            "key": e.key,
            "hash": f"{to_unsigned(e.hash):016x}",
            "version": e.version,
            "name": e.name,
            "parent": None if e.parent is None else {"type": e.parent[0], "key": e.parent[1]},
            "state": e.state,
            "project": e.project,
            "first_seen": e.first_seen.isoformat(),
            "last_changed": e.last_changed.isoformat(),
            "document": None if e.payload is None else orjson.loads(e.payload),
        }


def import_rows(store: Store, lines: Iterable[bytes], now: datetime, *, replace: bool = False) -> int:
    """Load an export into the baseline; refuses to mix with an existing baseline unless ``replace``."""
    batch: list[dict[str, Any]] = []
    count = 0
    with store.transaction() as tx:
        touched: set[str] = set()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
                row = _row(raw, now)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"import line {number}: not a baseline export record ({type(exc).__name__})") from None
            if row["source"] not in touched:
                touched.add(row["source"])
                if tx.epoch(row["source"]) is not None:
                    if not replace:
                        raise ConfigError(
                            f"source {row['source']} already has a baseline; use --replace to overwrite it"
                        )
                    tx.delete_source(row["source"])
                tx.ensure_epoch(row["source"], now)
            batch.append(row)
            count += 1
            if len(batch) >= 500:
                tx.upsert_entities(batch)
                batch = []
        tx.upsert_entities(batch)
    return count


def _row(raw: dict[str, Any], now: datetime) -> dict[str, Any]:
    parent = raw.get("parent") or {}
    document = raw.get("document")
    return {
        "source": str(raw["source"]),
        "entity_type": str(raw["entity_type"]),
        "key": str(raw["key"]),
        "hash": to_signed(int(raw["hash"], 16)),
        "version": int(raw["version"]),
        "payload": None if document is None else compress(canonical_bytes(document)),
        "name": raw.get("name"),
        "parent_type": parent.get("type"),
        "parent_key": parent.get("key"),
        "state": raw.get("state"),
        "project": raw.get("project"),
        "first_seen": datetime.fromisoformat(raw["first_seen"]),
        "last_changed": datetime.fromisoformat(raw["last_changed"]),
        "misses": 0,
        "deleted_at": None,
    }
