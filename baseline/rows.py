"""Values the baseline store hands out, and their encodings: signed hashes, compressed
payloads, aware UTC timestamps, URLs safe to show.

No database access here; the store and its transactions build these from rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from baseline.codec import compress, decompress  # noqa: F401 - compress re-exported; the codec lives in baseline.codec


def to_signed(digest: int) -> int:
    """An unsigned 64-bit digest as the signed integer the hash column holds."""
    return digest - (1 << 64) if digest >= (1 << 63) else digest


def to_unsigned(value: int) -> int:
    """The unsigned digest stored as a signed 64-bit integer."""
    return value & 0xFFFFFFFFFFFFFFFF


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC datetime (SQLite hands back naive ones)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def redact_url(url: str) -> str:
    """The database URL with any password masked, safe to show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL may itself hold a secret
        return "<unparseable database URL>"


@dataclass(frozen=True)
class TypeState:
    """What the store remembers about the listings of one type of one source."""

    fingerprint: str
    last_full_run: int | None
    last_full_at: datetime | None
    last_listed_at: datetime | None
    listings_since_full: int
    count: int


@dataclass(frozen=True)
class StoredEntity:
    """One baseline row, with its payload decompressed (None when not stored)."""

    key: str
    hash: int  # signed, as stored
    version: int
    payload: bytes | None
    name: str | None
    parent: tuple[str, str] | None
    state: str | None
    project: str | None
    first_seen: datetime
    last_changed: datetime
    misses: int
    deleted_at: datetime | None
    source: str = ""
    entity_type: str = ""


@dataclass(frozen=True)
class OutboxRow:
    """One stored notification: its sequence number, routing facts and JSON body."""

    seq: int
    id: str
    source: str
    run_id: int | None
    entity_type: str
    key: str
    action: str
    created_at: datetime
    body: bytes


@dataclass(frozen=True)
class RunRow:
    """One run of one source as recorded."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    summary: str | None


@dataclass(frozen=True)
class CursorRow:
    """A durable sink's position in the outbox."""

    sink: str
    position: int
    updated_at: datetime
    last_error: str | None
    failures: int


@dataclass(frozen=True)
class ParkedSummary:
    """A durable sink's parked notifications: how many, since when, and the latest reason."""

    sink: str
    count: int
    first_parked_at: datetime
    last_reason: str


def stored_entity(row: Any) -> StoredEntity:
    """The StoredEntity of one ``poller_entities`` row."""
    parent = (row.parent_type, row.parent_key) if row.parent_type is not None else None
    return StoredEntity(
        key=row.key, hash=row.hash, version=row.version,
        payload=None if row.payload is None else decompress(row.payload),
        name=row.name, parent=parent, state=row.state, project=row.project,
        first_seen=utc(row.first_seen), last_changed=utc(row.last_changed),  # type: ignore[arg-type]
        misses=row.misses, deleted_at=utc(row.deleted_at), source=row.source, entity_type=row.entity_type,
    )
