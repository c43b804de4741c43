"""What a commit writes, built from values: baseline rows and notification rows.

Pure and picklable: the commit builds rows here in the main process, and a first load's
batches of creations are built here in render workers (``render_created``), alike to the
byte. Never touches the database, a clock or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from baseline import codec
from baseline.canonical import hash_hex
from baseline.diff import split_document
from baseline.rows import to_unsigned
from poller.notification import Change, render


@dataclass(frozen=True)
class CommitFacts:
    """What every row and notification of one type's commit shares."""

    source: str
    entity_type: str
    epoch: str
    now: datetime
    run_id: int | None
    initial: bool  # this type's creations are a first load (flagged ``initial``)
    silent: bool  # initial_load: silent: a first load's creations get no notification each
    max_bytes: int | None
    store_payloads: bool = True  # baseline.store_payloads: rows hold the document


def entity_row(
    facts: CommitFacts, key: str, digest: int, version: int, payload: bytes | None, doc: dict[str, Any],
    first_seen: datetime,
) -> dict[str, Any]:
    """A new baseline row (``payload`` uncompressed: the store compresses it)."""
    parent = doc.get("parent") or {}
    return {
        "source": facts.source, "entity_type": facts.entity_type, "key": key, "hash": digest, "version": version,
        "payload": payload, "name": doc.get("name"),
        "parent_type": parent.get("type"), "parent_key": parent.get("key"), "state": doc.get("state"),
        "project": doc.get("project"), "first_seen": first_seen, "last_changed": first_seen, "misses": 0,
        "deleted_at": None,
    }


def notification_row(
    facts: CommitFacts, key: str, action: str, version: int, doc: dict[str, Any], old_hash: int | None,
    new_hash: int | None, changes: list[dict[str, Any]] | None, previous: dict[str, Any] | None, initial: bool,
    entity: Any = ...,
) -> dict[str, Any] | None:
    """The outbox row of one change (``body`` the notification's JSON, uncompressed); None for a
    creation of a silent first load."""
    if initial and action == "create" and facts.silent:
        return None
    parent = doc.get("parent")
    change = Change(
        source=facts.source, entity_type=facts.entity_type, key=key, action=action, version=version,
        epoch=facts.epoch, initial=initial, time=facts.now, name=doc.get("name"),
        parent=None if not parent else (parent["type"], parent["key"]), state=doc.get("state"),
        project=doc.get("project"), hash=None if new_hash is None else hash_hex(to_unsigned(new_hash)),
        previous_hash=None if old_hash is None else hash_hex(to_unsigned(old_hash)), changes=changes,
        previous=previous, entity=doc.get("attributes") if entity is ... else entity, run_id=facts.run_id,
    )
    notification_id = change.id
    return {
        "id": notification_id, "source": facts.source, "run_id": facts.run_id, "entity_type": facts.entity_type,
        "key": key, "action": action, "created_at": facts.now,
        "body": render(change, notification_id, max_bytes=facts.max_bytes),
    }


def created_rows(
    facts: CommitFacts, key: str, digest: int, document: bytes, version: int, source_digest: int | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The baseline row and the notification row (None when silent) of one created entity."""
    attributes, doc = split_document(document)
    doc["attributes"] = orjson.Fragment(attributes)
    payload = document if facts.store_payloads else None
    row = entity_row(facts, key, digest, version, payload, doc, first_seen=facts.now)
    row["source_digest"] = source_digest
    return row, notification_row(facts, key, "create", version, doc, None, digest, None, None, facts.initial)


# The column order of the tuples render workers hand back (what the inserts take as they are).
ENTITY_COLUMNS = (
    "source", "entity_type", "key", "hash", "version", "payload", "name", "parent_type", "parent_key", "state",
    "project", "first_seen", "last_changed", "misses", "deleted_at", "source_digest",
)
OUTBOX_COLUMNS = ("id", "source", "run_id", "entity_type", "key", "action", "created_at", "body")
_STAMPED = ("first_seen", "last_changed", "created_at")


@dataclass
class CreatedBatch:
    """A batch of creations rendered by a worker: baseline rows (``ENTITY_COLUMNS``) and outbox
    rows (``OUTBOX_COLUMNS``) as tuples, blobs compressed and timestamps already in the driver's
    form. Tuples, not dicts: the main process unpickles and inserts them as they are. The
    notification bodies are handed on compressed too (the commit's published spool decompresses
    them as it hands them on), so they cross processes and files at ~1/15th of their size."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[tuple[Any, ...]] = field(default_factory=list)


def render_created(
    facts: CommitFacts, items: list[tuple[str, int, bytes, int, int | None]],
    payload_dict: int | None, body_dict: int | None, stamp: Any,
) -> CreatedBatch:
    """Render a batch of creations: items are (key, hash, document, version, source digest);
    blobs compressed with the type's dictionaries (LZ4 where None), ``facts.now`` written as
    ``stamp`` (the driver's form of it, ``Transaction.driver_stamp``)."""
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for key, digest, document, version, source_digest in items:
        row, note = created_rows(facts, key, digest, document, version, source_digest)
        rows.append(row)
        if note is not None:
            notes.append(note)
    compressed = iter(codec.compress_many([r["payload"] for r in rows if r["payload"] is not None], payload_dict))
    bodies = iter(codec.compress_many([note["body"] for note in notes], body_dict))
    stamped = dict.fromkeys(_STAMPED, stamp)
    out = CreatedBatch()
    for row in rows:
        if row["payload"] is not None:
            row["payload"] = next(compressed)
        row.update(stamped)
        out.rows.append(tuple(map(row.__getitem__, ENTITY_COLUMNS)))
    for note in notes:
        note["body"] = next(bodies)
        note.update(stamped)
        out.notes.append(tuple(map(note.__getitem__, OUTBOX_COLUMNS)))
    return out
