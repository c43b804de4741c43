"""Hashing a batch of listed items against the baseline: the work the hash pool spreads over cores.

Pure and picklable both ways: given the items of one page (or RawPage bytes, decoded here)
and a HashJob, returns every item's key digest and hash and the full canonical document of
those that differ from the baseline. Runs in the main process or in a forked worker alike;
touches no database, no clock, no log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baseline.canonical import Rules, canonical_bytes, hash_bytes
from baseline.diff import entity_document
from baseline.errors import CanonicalError
from baseline.index import CREATED, UNCHANGED, BaselineIndex, key_digest
from baseline.store import to_signed
from collectors.base import Entity, Gone, RawPage
from collectors.errors import CollectorError

# The longest envelope values both backends store alike (baseline/schema.py: VARCHAR on PostgreSQL,
# whose btree index also cannot hold arbitrary keys of several KB).
MAX_KEY_CHARS = 512
MAX_LABEL_CHARS = 255


@dataclass(frozen=True)
class HashJob:
    """What one type's listing is hashed against: its name, its rules and the baseline's hashes."""

    type_name: str
    rules: Rules
    index: BaselineIndex


@dataclass
class HashedBatch:
    """What one batch of a listing held: every entity's key digest and hash, in listing order,
    and the full document of each created or updated one (action, key, hash, document)."""

    listed: int = 0
    keys_digests: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    changed: list[tuple[str, str, int, bytes, int | None]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    # (key, source digest) of unchanged entities read from a record the baseline had no digest of.
    touched: list[tuple[str, int]] = field(default_factory=list)
    # The first problem met; the batch's items after it were not read, the listing is incomplete.
    error: str | None = None
    # ``changed`` as a worker process pickled it for the spool (poller/run/spool.py), when it did:
    # the main process writes these bytes as they are instead of unpickling and pickling again.
    spooled: bytes | None = None
    spooled_count: int = 0
    spooled_creations_only: bool = False  # every spooled change a creation (poller/run/spool.py Chunk)


def hash_page(page: RawPage, job: HashJob) -> HashedBatch:
    """Decode one RawPage and hash its items; a page that cannot be decoded is the batch's error.

    A page of raw records (``split``/``parse``) is hashed record by record first: a record whose
    bytes the baseline last read for an entity is that entity, unchanged, and is not parsed.
    """
    try:
        split = None if page.split is None or page.parse is None else page.split(page.data, page.context)
        if split is None:  # no records to tell apart, or a page of a shape the splitter does not read
            return hash_items(list(page.entities()), job)
        records, wheres = split
        sources = [to_signed(hash_bytes(record)) for record in records]
        entity = job.index.by_source(np.array(sources, dtype=np.int64))
        known = entity >= 0
        unknown = np.flatnonzero(~known)
        if len(unknown) == len(records):
            parsed = page.parse(records, wheres, page.context)
        else:
            subset = page.parse([records[i] for i in unknown], [wheres[i] for i in unknown], page.context)
            parsed = [(int(unknown[j]), item) for j, item in subset]
    except CollectorError as exc:
        return HashedBatch(error=str(exc))
    except Exception as exc:  # a plugin bug must not take the run (or a worker) down
        return HashedBatch(error=f"collector raised {type(exc).__name__} while decoding a {job.type_name} page")
    batch = hash_items([item for _, item in parsed], job, [sources[i] for i, _ in parsed])
    if known.any():
        found = entity[known]
        batch.listed += len(found)
        batch.keys_digests = np.concatenate([batch.keys_digests, job.index.digests[found]])
        batch.hashes = np.concatenate([batch.hashes, job.index.hashes[found]])
    return batch


def entity_hash(item: Entity, rules: Rules) -> tuple[int, bytes]:
    """The signed hash of one entity under ``rules`` and its full canonical document (what is
    stored and emitted: the field policy applied, nothing ignored); CanonicalError if it has none."""
    attributes = rules.shape(item.attributes) if rules.shapes else item.attributes
    normalizes = rules.ignore or rules.sets or rules.empty_equals_missing
    hashed = rules.normalize(attributes) if normalizes else attributes
    parent = None if item.parent is None else (item.parent.type, item.parent.key)
    doc = entity_document(item.name, parent, item.state, item.project, hashed)
    data = canonical_bytes(doc)
    full = data if hashed is attributes else canonical_bytes({**doc, "attributes": attributes})
    return to_signed(hash_bytes(data)), full


def hash_items(items: Iterable[Any], job: HashJob, sources: list[int] | None = None) -> HashedBatch:
    """Hash a batch of listed items (Entities, and Gone markers in a delta listing) against the baseline.

    ``sources``, when given, holds the digest of the raw record of each item (stored with
    the entity, so an identical record is not parsed next time). The hot loop: kept flat,
    because a million entities go through it.
    """
    rules, name = job.rules, job.type_name
    plain = not rules.ignore and not rules.sets and not rules.empty_equals_missing
    shape = rules.shape if rules.shapes else None
    batch = HashedBatch()
    keys: list[str] = []
    digests: list[int] = []
    hashes: list[int] = []
    kept: list[tuple[Entity, dict[str, Any], Any, Any, bytes]] = []
    origins: list[int | None] = []
    for position, item in enumerate(items):
        if type(item) is not Entity:
            if isinstance(item, Gone):
                batch.gone.append(item.key)
                continue
            if not isinstance(item, Entity):
                batch.error = f"collector yielded something other than a {name} entity"
                break
        if item.type != name:
            batch.error = f"collector yielded a {item.type} entity while listing {name}"
            break
        attributes = item.attributes if shape is None else shape(item.attributes)
        hashed = attributes if plain else rules.normalize(attributes)
        parent = None if item.parent is None else (item.parent.type, item.parent.key)
        doc = entity_document(item.name, parent, item.state, item.project, hashed)
        try:
            data = canonical_bytes(doc)
        except CanonicalError as exc:
            batch.error = f"entity {item.key}: {exc}"
            break
        keys.append(item.key)
        digests.append(key_digest(item.key))
        hashes.append(to_signed(hash_bytes(data)))
        kept.append((item, doc, hashed, attributes, data))
        origins.append(None if sources is None else sources[position])
    batch.listed = len(keys)
    batch.keys_digests = np.array(digests, dtype=np.int64)
    batch.hashes = np.array(hashes, dtype=np.int64)
    states = job.index.classify(keys, batch.keys_digests, batch.hashes)
    if sources is not None:
        batch.touched = [(keys[i], origins[i]) for i in np.flatnonzero(states == UNCHANGED)]  # type: ignore[misc]
    for i in np.flatnonzero(states != UNCHANGED):
        item, doc, hashed, attributes, data = kept[i]
        bad = unstorable(item)  # only changed entities can bring one: no cost for unchanged ones
        if bad is not None:
            batch.error = batch.error or f"entity {item.key[:100]!r}: {bad}"
            break
        full = data if hashed is attributes else canonical_bytes({**doc, "attributes": attributes})
        batch.changed.append(("create" if states[i] == CREATED else "update", item.key, hashes[i], full, origins[i]))
    return batch


def unstorable(item: Entity) -> str | None:
    """Why the baseline cannot store this entity's envelope alike on SQLite and PostgreSQL, if it cannot.

    S06: a NUL character (PostgreSQL text cannot hold one; inside attributes it is JSON-escaped
    and harmless) or a key, parent key, state or project longer than its column.
    """
    fields = (("key", item.key, MAX_KEY_CHARS), ("name", item.name, None), ("state", item.state, MAX_LABEL_CHARS),
              ("project", item.project, MAX_LABEL_CHARS),
              ("parent key", None if item.parent is None else item.parent.key, MAX_KEY_CHARS))
    for field_name, value, limit in fields:
        if value is None:
            continue
        if "\x00" in value:
            return f"its {field_name} holds a NUL character, which the baseline cannot store"
        if limit is not None and len(value) > limit:
            return f"its {field_name} is {len(value)} characters long, more than the {limit} the baseline stores"
    return None
