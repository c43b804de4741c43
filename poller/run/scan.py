"""Listing one entity type and comparing it with the baseline, entity by entity.

Streams the collector's Listing, hashes each entity by the type's rules, classifies it
against the baseline's hashes and spools what changed; decides whether the listing was
complete. Writes nothing to the database.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog

from baseline.canonical import Rules, canonical_bytes, hash_bytes, merge_ignore
from baseline.diff import DeletionPlan, Seen, TypeDiff, entity_document
from baseline.errors import CanonicalError
from baseline.store import Store, TypeState, to_signed
from collectors.base import Collector, Entity, EntityType, Gone, Item, ListContext, Listing, RawPage
from collectors.errors import CollectorError, ListingIncomplete, SourceFailed
from poller.config import SourceConfig
from poller.run.outcome import RunAbandoned, RunSettings, TypeResult
from poller.run.spool import Spool

log = structlog.get_logger("poller.run")


@dataclass
class Scan:
    """What the listing of one type found, pending commit."""

    etype: EntityType
    rules: Rules
    state: TypeState | None
    result: TypeResult
    started_at: datetime
    baseline: dict[str, int]
    misses: dict[str, int]
    diff: TypeDiff
    spool: Spool
    gone: list[str] = field(default_factory=list)
    # The deletions to commit, when decided before the commit (see poller/run/confirm.py).
    plan: DeletionPlan | None = None
    # Set when the listing ended on a source-wide failure: the run stops (and logs it once).
    failure: SourceFailed | None = None


def rules_for(source: SourceConfig, etype: EntityType) -> Rules:
    """The hashing rules of one type in one source: its defaults plus the config's changes,
    and the source's field policy (what is kept, dropped and redacted; S10, B13)."""
    policy = source.fields
    return Rules(
        ignore=merge_ignore(etype.volatile, source.ignore_for(etype.name)),
        sets=tuple(etype.sets),
        type_fingerprint=etype.fingerprint,
        keep=policy.for_type(policy.keep, etype.name),
        drop=policy.for_type(policy.drop, etype.name),
        redact=policy.for_type(policy.redact, etype.name),
        redaction_key=(policy.redaction_key or "").encode("utf-8"),
        empty_equals_missing=policy.empty_equals_missing,
    )


def scan_type(
    source: SourceConfig, collector: Collector, store: Store, etype: EntityType, settings: RunSettings,
    deadline: float | None,
) -> Scan:
    """List one type and compare it with the baseline; the Scan holds what changed and how it went."""
    state = store.type_state(source.name, etype.name)
    now = settings.clock()
    baseline = store.load_hashes(source.name, etype.name)
    scan = Scan(
        etype=etype, rules=rules_for(source, etype), state=state, result=TypeResult(etype.name), started_at=now,
        baseline=baseline, misses=store.load_misses(source.name, etype.name), diff=TypeDiff(baseline), spool=Spool(),
    )
    context = ListContext(
        now=now,
        last_listed_at=state.last_listed_at if state else None,
        last_full_at=state.last_full_at if state else None,
        listings_since_full=state.listings_since_full if state else 0,
    )
    with structlog.contextvars.bound_contextvars(entity_type=etype.name):
        try:
            listing = collector.list(etype, context)
        except CollectorError as exc:
            listing = Listing(etype.name, iter(()))
            listing.fail(exc)
        else:
            if settings.progress is not None:
                settings.progress.phase(source.name, "listing", etype.name, listing.expected)
            _consume(listing, scan, deadline, settings.progress, source.name)
        _judge(listing, scan)
    return scan


def _consume(listing: Listing, scan: Scan, deadline: float | None, progress: Any = None, source: str = "") -> None:
    # Parsing many small documents while a large heap is alive is several times slower
    # with the cyclic GC running; nothing created here forms cycles worth collecting.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _consume_items(listing, scan, deadline, progress, source)
    finally:
        if gc_was_enabled:
            gc.enable()


def _consume_items(listing: Listing, scan: Scan, deadline: float | None, progress: Any, source: str) -> None:
    result = scan.result
    result.delta = listing.delta
    listed = 0
    try:
        listed = _hash_and_compare(listing, scan, deadline, progress, source)
    finally:
        result.listed = max(result.listed, listed)


def _hash_and_compare(listing: Listing, scan: Scan, deadline: float | None, progress: Any, source: str) -> int:
    """The hot loop: one pass per entity, kept flat because a million entities go through it."""
    rules, diff, spool, result = scan.rules, scan.diff, scan.spool, scan.result
    plain = not rules.ignore and not rules.sets and not rules.empty_equals_missing
    shape = rules.shape if rules.shapes else None
    name = scan.etype.name
    observe, unchanged = diff.observe, Seen.UNCHANGED
    listed = 0
    for item in _pages_decoded(listing):
        if type(item) is not Entity:
            if isinstance(item, Gone):
                scan.gone.append(item.key)
                continue
            if not isinstance(item, Entity):
                listing.fail(ListingIncomplete(f"collector yielded something other than a {name} entity"))
                break
        if item.type != name:
            listing.fail(ListingIncomplete(f"collector yielded a {item.type} entity while listing {name}"))
            break
        listed += 1
        if listed & 63 == 0:  # L04: a slow API is stopped at the timeout, not at the listing's end
            if deadline is not None and time.monotonic() > deadline:
                result.listed = listed
                raise RunAbandoned(f"listing {name} ran past the source's timeout")
            if progress is not None:
                progress.count(source, name, listed)
            if listed % 5000 == 0:
                result.listed = listed
        attributes = item.attributes if shape is None else shape(item.attributes)
        hashed = attributes if plain else rules.normalize(attributes)
        parent = None if item.parent is None else (item.parent.type, item.parent.key)
        doc = entity_document(item.name, parent, item.state, item.project, hashed)
        try:
            data = canonical_bytes(doc)
        except CanonicalError as exc:
            listing.fail(ListingIncomplete(f"entity {item.key}: {exc}"))
            break
        digest = to_signed(hash_bytes(data))
        seen = observe(item.key, digest)
        if seen is unchanged:
            continue
        if seen is Seen.CREATED or seen is Seen.UPDATED:
            bad = _unstorable(item)  # only changed entities can bring one: no cost for unchanged ones
            if bad is not None:
                listing.fail(ListingIncomplete(f"entity {item.key[:100]!r}: {bad}"))
                break
            full = data if hashed is attributes else canonical_bytes({**doc, "attributes": attributes})
            spool.add("create" if seen is Seen.CREATED else "update", item.key, digest, full)
        elif seen is Seen.DUPLICATE:
            result.duplicates += 1
            log.warning("duplicate_key", key=item.key)
        else:
            listing.fail(ListingIncomplete(f"key {item.key} listed twice with different contents"))
            break
    return listed


def _pages_decoded(listing: Listing) -> Iterator[Item]:
    """The listing's items with its RawPages decoded in this process; a page that cannot be
    decoded fails the listing."""
    for item in listing:
        if type(item) is not RawPage:
            yield item
            continue
        try:
            yield from item.entities()
        except CollectorError as exc:
            listing.fail(exc)
            return
        except Exception as exc:  # a plugin bug must not take the run down
            listing.fail(ListingIncomplete(f"collector raised {type(exc).__name__} while decoding a {listing.entity_type} page"))
            return


def observe_entity(scan: Scan, item: Entity) -> bool:
    """Compare one entity read outside the listing like a listed one (spooled if it changed);
    False when it cannot be hashed or contradicts what the listing held."""
    rules = scan.rules
    attributes = rules.shape(item.attributes) if rules.shapes else item.attributes
    hashed = rules.normalize(attributes) if rules.ignore or rules.sets or rules.empty_equals_missing else attributes
    parent = None if item.parent is None else (item.parent.type, item.parent.key)
    doc = entity_document(item.name, parent, item.state, item.project, hashed)
    try:
        data = canonical_bytes(doc)
        full = data if hashed is attributes else canonical_bytes({**doc, "attributes": attributes})
    except CanonicalError:
        return False
    digest = to_signed(hash_bytes(data))
    seen = scan.diff.observe(item.key, digest)
    if seen is Seen.CREATED or seen is Seen.UPDATED:
        if _unstorable(item) is not None:
            return False
        scan.spool.add("create" if seen is Seen.CREATED else "update", item.key, digest, full)
    return seen is not Seen.CONFLICT


# The longest envelope values both backends store alike (baseline/schema.py: VARCHAR on PostgreSQL,
# whose btree index also cannot hold arbitrary keys of several KB).
MAX_KEY_CHARS = 512
MAX_LABEL_CHARS = 255


def _unstorable(item: Entity) -> str | None:
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


def rehash(document: bytes, rules: Rules) -> int:
    """The signed hash a stored full document has under ``rules``."""
    doc = orjson.loads(document)
    attributes = doc.get("attributes") or {}
    doc["attributes"] = rules.normalize(rules.shape(attributes) if rules.shapes else attributes)
    return to_signed(hash_bytes(canonical_bytes(doc)))


def _judge(listing: Listing, scan: Scan) -> None:
    result = scan.result
    if listing.unavailable is not None:
        result.status, result.error = "unavailable", str(listing.unavailable)
        log.info("type_unavailable", reason=str(listing.unavailable))
        return
    if listing.complete and listing.total is not None and listing.total != scan.diff.unique_count:
        listing.fail(
            ListingIncomplete(f"the API reported {listing.total} entities but the listing held {scan.diff.unique_count}")
        )
    if listing.error is not None or not listing.complete:
        result.status = "incomplete"
        result.error = str(listing.error) if listing.error else "listing ended early"
        if isinstance(listing.error, SourceFailed):
            scan.failure = listing.error  # the run logs it, once
            return
        log.error("listing_incomplete", error=result.error, listed=result.listed)

