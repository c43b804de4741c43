"""Baseline maintenance for people: counts, one entity's stored state (``poller show``),
export, import and reset.

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
from baseline.store import Store, StoredEntity, to_signed, to_unsigned
from poller.errors import ConfigError, UnknownEntity


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


@dataclass(frozen=True)
class EntityView:
    """What the baseline holds for one entity now: its row, its children and its document."""

    entity: StoredEntity
    children: int
    document: Any  # the stored attributes (None when payloads are not stored)

    def as_dict(self) -> dict[str, Any]:
        """The view as JSON-able values (``poller show --format json``)."""
        e = self.entity
        return {
            "source": e.source, "entity_type": e.entity_type, "key": e.key, "name": e.name, "state": e.state,
            "project": e.project, "parent": None if e.parent is None else {"type": e.parent[0], "key": e.parent[1]},
            "children": self.children, "first_seen": e.first_seen.isoformat(), "last_changed": e.last_changed.isoformat(),
            "deleted_at": None if e.deleted_at is None else e.deleted_at.isoformat(), "version": e.version,
            "hash": f"{to_unsigned(e.hash):016x}", "attributes": self.document,
        }


def entity_view(store: Store, entity_type: str, key: str, source: str | None = None) -> EntityView:
    """One entity as the baseline holds it (a deleted one as its tombstone).

    UnknownEntity when no source holds it; ConfigError when several do and ``source`` is not given.
    """
    found = store.find_entity(entity_type, key, source)
    if not found:
        where = f" in source {source}" if source else ""
        raise UnknownEntity(f"no entity {entity_type}/{key} in the baseline{where}")
    if len(found) > 1:
        names = ", ".join(e.source for e in found)
        raise ConfigError(f"{entity_type}/{key} is held by sources {names}: choose one with --source")
    entity = found[0]
    document = None if entity.payload is None else orjson.loads(entity.payload)
    return EntityView(entity, store.count_children(entity.source, entity_type, key), document)


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
        "payload": None if document is None else canonical_bytes(document),  # compressed by the store
        "name": raw.get("name"),
        "parent_type": parent.get("type"),
        "parent_key": parent.get("key"),
        "state": raw.get("state"),
        "project": raw.get("project"),
        "first_seen": datetime.fromisoformat(raw["first_seen"]),
        "last_changed": datetime.fromisoformat(raw["last_changed"]),
        "misses": 0,
        "deleted_at": None,
        "source_digest": None,  # an imported row was not read from a record: parse it next time
    }
