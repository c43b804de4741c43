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


@dataclass
class CreatedBatch:
    """A batch of creations rendered by a worker: baseline rows and outbox rows with their blobs
    compressed, and the uncompressed notification bodies (handed on after the commit)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def render_created(
    facts: CommitFacts, items: list[tuple[str, int, bytes, int, int | None]],
    payload_dict: int | None, body_dict: int | None,
) -> CreatedBatch:
    """Render a batch of creations: items are (key, hash, document, version, source digest);
    blobs compressed with the type's dictionaries (LZ4 where None)."""
    out = CreatedBatch()
    for key, digest, document, version, source_digest in items:
        row, note = created_rows(facts, key, digest, document, version, source_digest)
        out.rows.append(row)
        if note is not None:
            out.notes.append(note)
    payloads = codec.compress_many([r["payload"] for r in out.rows if r["payload"] is not None], payload_dict)
    compressed = iter(payloads)
    for row in out.rows:
        if row["payload"] is not None:
            row["payload"] = next(compressed)
    out.bodies = [note["body"] for note in out.notes]
    for note, blob in zip(out.notes, codec.compress_many(out.bodies, body_dict), strict=True):
        note["body"] = blob
    return out
