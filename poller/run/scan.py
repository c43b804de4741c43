"""Listing one entity type and comparing it with the baseline, entity by entity.

Streams the collector's Listing, hashes each entity by the type's rules, classifies it
against the baseline's hashes and spools what changed; decides whether the listing was
complete. Writes nothing to the database.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog

from baseline.canonical import Rules, canonical_bytes, hash_bytes, merge_ignore
from baseline.diff import DeletionPlan, Seen
from baseline.errors import CanonicalError
from baseline.index import BaselineIndex, key_digest
from baseline.listed import ListedDiff
from baseline.store import Store, TypeState, to_signed
from collectors.base import Collector, Entity, EntityType, ListContext, Listing, RawPage
from collectors.errors import CollectorError, ListingIncomplete, SourceFailed
from poller.config import SourceConfig
from poller.run.hashing import HashedBatch, HashJob, entity_hash, unstorable
from poller.run.outcome import RunAbandoned, RunSettings, TypeResult
from poller.run.spool import Spool
from poller.run.workers import HashPool, default_workers

__all__ = ["Scan", "observe_entity", "rehash", "rules_for", "scan_type"]

log = structlog.get_logger("poller.run")


@dataclass
class Scan:
    """What the listing of one type found, pending commit."""

    etype: EntityType
    rules: Rules
    state: TypeState | None
    result: TypeResult
    started_at: datetime
    baseline: BaselineIndex
    misses: dict[str, int]
    diff: ListedDiff
    spool: Spool
    # How many processes hash the listing's pages (1: all in this process).
    workers: int = 1
    # (key, source digest) of unchanged entities whose raw record the baseline did not know.
    touched: list[tuple[str, int]] = field(default_factory=list)
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
    rules = rules_for(source, etype)
    # Raw-record digests stand for hashes only under the rules they were stored with.
    baseline = store.load_index(source.name, etype.name,
                                source_digests=state is not None and state.fingerprint == rules.fingerprint)
    scan = Scan(
        etype=etype, rules=rules, state=state, result=TypeResult(etype.name), started_at=now,
        baseline=baseline, misses=store.load_misses(source.name, etype.name), diff=ListedDiff(baseline), spool=Spool(),
        workers=settings.hash_workers or default_workers(),
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
    """Feed the listing to the hash pool batch by batch and merge what comes back, in order."""
    name = scan.etype.name
    job = HashJob(name, scan.rules, scan.baseline)
    merged = _Merge(scan, listing)
    items: list[Any] = []
    with HashPool(job, scan.workers) as pool:
        for item in listing:
            if type(item) is RawPage:
                if items:
                    merged.take(pool.submit(items))
                    items = []
                merged.take(pool.submit(item))
            else:
                items.append(item)
                if len(items) < _BATCH:
                    continue
                merged.take(pool.submit(items))
                items = []
            if merged.stopped:
                break
            if deadline is not None and time.monotonic() > deadline:  # L04: stopped at the timeout
                scan.result.listed = merged.listed
                raise RunAbandoned(f"listing {name} ran past the source's timeout")
            if progress is not None:
                progress.count(source, name, merged.listed)
        else:
            if items:
                merged.take(pool.submit(items))
        if not merged.stopped:
            merged.take(pool.results())
    merged.finish()
    return merged.listed


# Entities a collector yields one by one are hashed in batches of this many.
_BATCH = 512


class _Merge:
    """Folds hash batches into the scan: spools what changed, stops at the first problem.

    Keys listed twice are found after the listing, from the digests (no set of every changed
    key is kept: a first load of a million would hold a million keys for a rare case).
    """

    def __init__(self, scan: Scan, listing: Listing) -> None:
        self.scan, self.listing = scan, listing
        self.listed = 0
        self.stopped = False

    def take(self, batches: Iterable[HashedBatch]) -> None:
        for batch in batches:
            if self.stopped:
                continue
            self.listed += batch.listed
            self.scan.diff.add(batch.keys_digests, batch.hashes)
            self.scan.gone.extend(batch.gone)
            self.scan.touched.extend(batch.touched)
            for action, key, digest, document, source_digest in batch.changed:
                self.scan.spool.add(action, key, digest, document, source_digest)
            if batch.spooled is not None:
                self.scan.spool.append_chunk(batch.spooled, batch.spooled_count,
                                             creations_only=batch.spooled_creations_only)
            if batch.error is not None:
                self._stop(batch.error)
            if self.listed % 5000 < batch.listed:
                self.scan.result.listed = self.listed

    def _stop(self, error: str) -> None:
        if not self.stopped:
            self.stopped = True
            self.listing.fail(ListingIncomplete(error))

    def finish(self) -> None:
        """The listing ended: keys listed twice collapse (a warning) or fail it (another hash)."""
        repeats = self.scan.diff.finish()
        if self.stopped or (not repeats.duplicates and repeats.conflict is None):
            return
        if repeats.conflict is not None:
            self._stop(f"key {self._key(repeats.conflict)} listed twice with different contents")
            return
        for digest in repeats.duplicates:
            self.scan.result.duplicates += 1
            log.warning("duplicate_key", key=self._key(digest))
        self._spool_once(set(repeats.duplicates))

    def _spool_once(self, repeated: set[int]) -> None:
        """Rewrite the spool with each repeated key's change once (a created key listed twice alike)."""
        old, seen = self.scan.spool, set()
        fresh = Spool()
        for item in old.items():
            digest = key_digest(item[1])
            if digest in repeated:
                if digest in seen:
                    continue
                seen.add(digest)
            fresh.append(item)
        old.close()
        self.scan.spool = fresh

    def _key(self, digest: int) -> str:
        for item in self.scan.spool.items():
            if key_digest(item[1]) == digest:
                return str(item[1])
        return self.scan.baseline.key_for_digest(digest) or f"with digest {digest & (2**64 - 1):016x}"


def observe_entity(scan: Scan, item: Entity) -> bool:
    """Compare one entity read outside the listing like a listed one (spooled if it changed);
    False when it cannot be hashed or contradicts what the listing held."""
    try:
        digest, full = entity_hash(item, scan.rules)
    except CanonicalError:
        return False
    seen = scan.diff.observe(item.key, digest)
    if seen is Seen.CREATED or seen is Seen.UPDATED:
        if unstorable(item) is not None:
            return False
        scan.spool.add("create" if seen is Seen.CREATED else "update", item.key, digest, full)
    return seen is not Seen.CONFLICT


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

