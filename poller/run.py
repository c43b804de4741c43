"""The run of one source: list every entity type, compare with the baseline, and commit
the baseline changes and their notifications in one transaction.

Owns the change semantics of DESIGN.md (all or nothing per type, deletions only after
complete listings, the mass-deletion guard). Inside a run, failures become data (an
incomplete type, a failed run); only a broken store or a bug escapes as an exception.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog

from baseline.canonical import Rules, canonical_bytes, hash_bytes, hash_hex, merge_ignore
from baseline.diff import (
    DeletionPolicy,
    Seen,
    TypeDiff,
    entity_document,
    envelope_changes,
    field_changes,
    plan_deletions,
    split_document,
)
from baseline.errors import BaselineError, CanonicalError
from baseline.store import Store, StoredEntity, Transaction, TypeState, to_signed, to_unsigned
from collectors.base import Collector, Entity, EntityType, Gone, ListContext, Listing
from collectors.errors import CollectorError, ListingIncomplete
from poller.config import SourceConfig
from poller.notification import Change, render
from poller.spool import Spool

log = structlog.get_logger("poller.run")

PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def new_holder() -> str:
    """A lease holder id for one run: two runs of one source in the same process (a scheduled
    snapshot and an event refresh) exclude each other like two processes do."""
    return f"{PROCESS}:{uuid.uuid4().hex[:12]}"


class RunAbandoned(Exception):
    """The run passed its deadline or lost its lease: nothing of it is committed."""


@dataclass
class TypeResult:
    """How one entity type fared in one run."""

    entity_type: str
    status: str = "complete"  # complete | incomplete | unavailable
    delta: bool = False
    listed: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    held: int = 0
    missed: int = 0
    duplicates: int = 0
    error: str | None = None

    @property
    def changes(self) -> int:
        """Notifications this type produced (created + updated + deleted)."""
        return self.created + self.updated + self.deleted


@dataclass
class RunResult:
    """How one run of one source ended."""

    source: str
    status: str  # ok | partial | failed | busy
    started_at: datetime
    finished_at: datetime | None = None
    run_id: int | None = None
    types: list[TypeResult] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    holder: str | None = None  # the lease holder id of this run (None when it took no lease)

    @property
    def changes(self) -> int:
        """Total notifications of the run."""
        return sum(t.changes for t in self.types)

    @property
    def held(self) -> int:
        """Deletions withheld by the mass-deletion guard."""
        return sum(t.held for t in self.types)

    def count(self, name: str) -> int:
        """Sum of one TypeResult counter over all types."""
        return sum(getattr(t, name) for t in self.types)

    def summary(self) -> str:
        """The run as a JSON document for the runs table."""
        return orjson.dumps(
            {
                "status": self.status,
                "error": self.error,
                "warnings": self.warnings,
                "types": [t.__dict__ for t in self.types],
            }
        ).decode()


@dataclass(frozen=True)
class RunSettings:
    """How to run: deletion policy, payload storage, first-load announcement, dry run."""

    deletion: DeletionPolicy = DeletionPolicy()
    store_payloads: bool = True
    initial_load: str = "announce"
    dry_run: bool = False
    timeout: float | None = None
    emit: Callable[[bytes], None] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    lease_ttl: float = 120.0
    # False for targeted refreshes (push events): they must not look like a listing of the type.
    record_listing: bool = True
    # Called as progress(source, entity_type, listed) every few thousand entities (a progress bar).
    progress: Callable[[str, str, int], None] | None = None


@dataclass
class _Scan:
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


def run_source(source: SourceConfig, collector: Collector, store: Store, settings: RunSettings) -> RunResult:
    """Run one source once; see the module docstring for what is promised."""
    started = settings.clock()
    result = RunResult(source.name, "ok", started, dry_run=settings.dry_run)
    bound = structlog.contextvars.bound_contextvars(source=source.name)
    bound.__enter__()
    try:
        return _run(source, collector, store, settings, result)
    finally:
        bound.__exit__(None, None, None)


def _run(source: SourceConfig, collector: Collector, store: Store, settings: RunSettings, result: RunResult) -> RunResult:
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    keeper: _LeaseKeeper | None = None
    holder = new_holder()
    if not settings.dry_run:
        now = settings.clock()
        if not store.acquire_lease(source.name, holder, now + timedelta(seconds=settings.lease_ttl), now):
            other = store.lease_holder(source.name)
            result.status = "busy"
            result.error = f"source {source.name} is being run by another process ({other}); skipped"
            log.warning("source_busy", holder=other)
            return result
        result.holder = holder
        keeper = _LeaseKeeper(store, source.name, settings, holder, deadline)
        keeper.start()
    scans: list[_Scan] = []
    try:
        if keeper is not None:
            result.run_id = store.start_run(source.name, holder, result.started_at)
        with structlog.contextvars.bound_contextvars(run_id=result.run_id):
            result.warnings = list(collector.warnings())
            for warning in result.warnings:
                log.warning("collector_warning", message=warning)
            types = _types_to_list(source, collector, store, result)
            for etype in types:
                scan = _scan_type(source, collector, store, etype, settings, deadline)
                result.types.append(scan.result)
                if scan.result.status == "complete":
                    scans.append(scan)
                else:
                    scan.spool.close()
            _finish_status(result, types)
            if deadline is not None and time.monotonic() > deadline:
                raise RunAbandoned(f"source {source.name} ran past its timeout of {settings.timeout:g}s")
            _commit(source, store, settings, result, scans, keeper, deadline)
    except RunAbandoned as exc:
        result.status, result.error = "partial", str(exc)
        for t in result.types:
            t.created = t.updated = t.deleted = 0
        log.error("run_abandoned", reason=str(exc))
        _record_failure(store, result, settings)
    except BaselineError as exc:
        result.status, result.error = "failed", str(exc)
        log.error("run_failed", error=str(exc))
        _record_failure(store, result, settings)
    finally:
        for scan in scans:
            scan.spool.close()
        if keeper is not None:
            keeper.stop()
            try:
                store.release_lease(source.name, holder)
            except BaselineError:
                log.warning("lease_release_failed")
    result.finished_at = result.finished_at or settings.clock()
    _log_run(result)
    return result


def _types_to_list(source: SourceConfig, collector: Collector, store: Store, result: RunResult) -> list[EntityType]:
    try:
        offered = list(collector.discover_types())
    except CollectorError as exc:
        result.status, result.error = "failed", str(exc)
        log.error("discovery_failed", error=str(exc))
        return []
    if collector.dynamic_types:
        known = {t.name for t in offered}
        for (_src, name) in sorted(store.counts(source.name)):
            if name not in known:
                offered.append(EntityType(name))
    if source.entity_types is not None:
        wanted = set(source.entity_types)
        offered = [t for t in offered if t.name in wanted]
    return offered


def _finish_status(result: RunResult, types: list[EntityType]) -> None:
    if result.status == "failed":
        return
    failed = [t for t in result.types if t.status == "incomplete"]
    if types and failed and len(failed) == len([t for t in result.types if t.status != "unavailable"]):
        result.status = "failed"
        result.error = failed[0].error
    elif failed:
        result.status = "partial"
        result.error = f"{len(failed)} of {len(result.types)} types incomplete: " + "; ".join(
            f"{t.entity_type}: {t.error}" for t in failed[:3]
        )


def rules_for(source: SourceConfig, etype: EntityType) -> Rules:
    """The hashing rules of one type in one source: its defaults plus the config's changes."""
    return Rules(
        ignore=merge_ignore(etype.volatile, source.ignore_for(etype.name)),
        sets=tuple(etype.sets),
        type_fingerprint=etype.fingerprint,
    )


def _scan_type(
    source: SourceConfig, collector: Collector, store: Store, etype: EntityType, settings: RunSettings,
    deadline: float | None,
) -> _Scan:
    state = store.type_state(source.name, etype.name)
    now = settings.clock()
    baseline = store.load_hashes(source.name, etype.name)
    scan = _Scan(
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
            _consume(listing, scan, deadline, settings.progress, source.name)
        _judge(listing, scan)
    return scan


def _consume(listing: Listing, scan: _Scan, deadline: float | None, progress: Any = None, source: str = "") -> None:
    # Parsing many small documents while a large heap is alive is several times slower
    # with the cyclic GC running; nothing created here forms cycles worth collecting.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _consume_items(listing, scan, deadline, progress, source)
    finally:
        if gc_was_enabled:
            gc.enable()


def _consume_items(listing: Listing, scan: _Scan, deadline: float | None, progress: Any, source: str) -> None:
    rules, diff, spool, result = scan.rules, scan.diff, scan.spool, scan.result
    result.delta = listing.delta
    plain = not rules.ignore and not rules.sets
    name = scan.etype.name
    for item in listing:
        if isinstance(item, Gone):
            scan.gone.append(item.key)
            continue
        result.listed += 1
        if result.listed % 5000 == 0:
            if deadline is not None and time.monotonic() > deadline:
                raise RunAbandoned(f"listing {name} ran past the source's timeout")
            if progress is not None:
                progress(source, name, result.listed)
        if not isinstance(item, Entity) or item.type != name:
            listing.fail(ListingIncomplete(f"collector yielded something other than a {name} entity"))
            break
        try:
            digest, full = _digest(item, rules, plain)
        except CanonicalError as exc:
            listing.fail(ListingIncomplete(f"entity {item.key}: {exc}"))
            break
        seen = diff.observe(item.key, digest)
        if seen is Seen.CREATED or seen is Seen.UPDATED:
            spool.add("create" if seen is Seen.CREATED else "update", item.key, digest, full())
        elif seen is Seen.DUPLICATE:
            result.duplicates += 1
            log.warning("duplicate_key", key=item.key)
        elif seen is Seen.CONFLICT:
            listing.fail(ListingIncomplete(f"key {item.key} listed twice with different contents"))
            break


def _digest(entity: Entity, rules: Rules, plain: bool) -> tuple[int, Callable[[], bytes]]:
    parent = None if entity.parent is None else (entity.parent.type, entity.parent.key)
    attributes = entity.attributes
    hashed = attributes if plain else rules.normalize(attributes)
    doc = entity_document(entity.name, parent, entity.state, entity.project, hashed)
    data = canonical_bytes(doc)
    digest = to_signed(hash_bytes(data))
    if hashed is attributes:
        return digest, lambda: data
    return digest, lambda: canonical_bytes({**doc, "attributes": attributes})


def rehash(document: bytes, rules: Rules) -> int:
    """The signed hash a stored full document has under ``rules``."""
    doc = orjson.loads(document)
    doc["attributes"] = rules.normalize(doc.get("attributes") or {})
    return to_signed(hash_bytes(canonical_bytes(doc)))


def _judge(listing: Listing, scan: _Scan) -> None:
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
        log.error("listing_incomplete", error=result.error, listed=result.listed)


# ------------------------------------------------------------------------ commit


@dataclass
class _CommitContext:
    source: SourceConfig
    settings: RunSettings
    result: RunResult
    epoch: str
    new_epoch: bool
    now: datetime
    outbox: list[dict[str, Any]] = field(default_factory=list)


def _commit(
    source: SourceConfig, store: Store, settings: RunSettings, result: RunResult, scans: list[_Scan],
    keeper: _LeaseKeeper | None, deadline: float | None,
) -> None:
    tombstones = {scan.etype.name: store.load_tombstones(source.name, scan.etype.name) for scan in scans}
    with store.transaction(readonly=settings.dry_run) as tx:
        if keeper is not None and not keeper.still_ours(tx):
            raise RunAbandoned(f"source {source.name}: the lease was lost before commit")
        # Checked again inside the transaction: waiting for the write lock must not carry a
        # timed-out run into a commit the service has already given up on.
        if deadline is not None and time.monotonic() > deadline:
            raise RunAbandoned(f"source {source.name} ran past its timeout of {settings.timeout:g}s")
        now = settings.clock()
        epoch, new_epoch = tx.ensure_epoch(source.name, now)
        ctx = _CommitContext(source, settings, result, epoch, new_epoch, now)
        for scan in scans:
            with structlog.contextvars.bound_contextvars(entity_type=scan.etype.name):
                _apply_type(tx, ctx, scan, tombstones[scan.etype.name])
        _flush_outbox(tx, ctx)
        result.finished_at = settings.clock()
        if result.run_id is not None:
            tx.finish_run(result.run_id, result.finished_at, result.status, result.summary())


def _apply_type(tx: Transaction, ctx: _CommitContext, scan: _Scan, tombstones: dict[str, int]) -> None:
    name, src = scan.etype.name, ctx.source.name
    initial = scan.state is None or ctx.new_epoch
    refingerprint = scan.state is not None and scan.state.fingerprint != scan.rules.fingerprint
    created = deleted = 0
    for batch in scan.spool.batches():
        old = tx.load_entities(src, name, [p.key for p in batch if p.action == "update"])
        inserts: list[dict[str, Any]] = []
        upserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for pending in batch:
            payload = pending.document if ctx.settings.store_payloads else None
            if pending.action == "create":
                attributes, doc = split_document(pending.document)
                doc["attributes"] = orjson.Fragment(attributes)
                version = tombstones.get(pending.key, 0) + 1
                row = _row(ctx, name, pending.key, pending.hash, version, payload, doc, first_seen=ctx.now)
                (upserts if pending.key in tombstones else inserts).append(row)
                _notify(ctx, scan, pending.key, "create", version, doc, None, pending.hash, None, None, initial)
                created += 1
                continue
            doc = orjson.loads(pending.document)
            stored = old[pending.key]
            if refingerprint and stored.payload is not None and rehash(stored.payload, scan.rules) == pending.hash:
                updates.append(_update_row(pending.key, pending.hash, stored.version, payload, doc, stored.last_changed))
                continue
            version = stored.version + 1
            updates.append(_update_row(pending.key, pending.hash, version, payload, doc, ctx.now))
            _notify_update(ctx, scan, stored, pending.hash, version, doc)
        tx.insert_entities(inserts)
        tx.upsert_entities(upserts)
        tx.update_entities(src, name, updates)
        _flush_outbox(tx, ctx)
    scan.result.created = created
    resets = [{"key": k, "misses": 0} for k in scan.misses if k in scan.diff.seen]
    tx.update_entities(src, name, resets)
    if scan.result.delta:
        deleted = _delete(tx, ctx, scan, [k for k in scan.gone if k in scan.baseline])
    else:
        plan = plan_deletions(scan.diff.absent(), scan.misses, len(scan.baseline), _policy(ctx))
        if plan.held:
            scan.result.held = len(plan.held)
            log.error(
                "mass_deletion_held", held=len(plan.held), baseline=len(scan.baseline),
                hint="rerun with --allow-mass-delete to release them",
            )
        tx.update_entities(src, name, [{"key": k, "misses": m} for k, m in plan.missed])
        scan.result.missed = len(plan.missed)
        deleted = _delete(tx, ctx, scan, list(plan.delete))
    scan.result.deleted = deleted
    _finish_type(tx, ctx, scan, created, deleted)


def _policy(ctx: _CommitContext) -> DeletionPolicy:
    base = ctx.settings.deletion
    own = ctx.source.deletion
    if own is None:
        return base
    return DeletionPolicy(own.min_misses, own.max_fraction, own.min_count, base.allow_mass_delete)


def _finish_type(tx: Transaction, ctx: _CommitContext, scan: _Scan, created: int, deleted: int) -> None:
    state = scan.state
    full = not scan.result.delta
    if not ctx.settings.record_listing:
        _note_held(ctx, scan)
        return
    tx.set_type_state(
        ctx.source.name,
        scan.etype.name,
        fingerprint=scan.rules.fingerprint,
        last_full_run=ctx.result.run_id if full else (state.last_full_run if state else None),
        last_full_at=scan.started_at if full else (state.last_full_at if state else None),
        last_listed_at=scan.started_at,
        listings_since_full=0 if full else (state.listings_since_full if state else 0) + 1,
        count=len(scan.baseline) + created - deleted,
    )
    _note_held(ctx, scan)


def _note_held(ctx: _CommitContext, scan: _Scan) -> None:
    if scan.result.held:
        ctx.result.status = "partial" if ctx.result.status == "ok" else ctx.result.status
        ctx.result.error = ctx.result.error or (
            f"{scan.result.held} deletions of {scan.etype.name} held by the mass-deletion guard "
            "(rerun with --allow-mass-delete to release them)"
        )


def _delete(tx: Transaction, ctx: _CommitContext, scan: _Scan, keys: list[str]) -> int:
    name, src = scan.etype.name, ctx.source.name
    deleted = 0
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        stored = tx.load_entities(src, name, chunk)
        rows = []
        for key in chunk:
            old = stored[key]
            rows.append({"key": key, "version": old.version + 1, "deleted_at": ctx.now, "last_changed": ctx.now, "misses": 0})
            doc = _stored_document(old)
            _notify(ctx, scan, key, "delete", old.version + 1, doc, old.hash, None, None, None, False, entity=None)
            deleted += 1
        tx.update_entities(src, name, rows)
        _flush_outbox(tx, ctx)
    return deleted


def _stored_document(old: StoredEntity) -> dict[str, Any]:
    if old.payload is not None:
        return orjson.loads(old.payload)
    return entity_document(old.name, old.parent, old.state, old.project, None)


def _notify_update(ctx: _CommitContext, scan: _Scan, stored: StoredEntity, new_hash: int, version: int, doc: dict[str, Any]) -> None:
    if stored.payload is None:
        changes = None
        old_doc = entity_document(stored.name, stored.parent, stored.state, stored.project, None)
    else:
        old_doc = orjson.loads(stored.payload)
        before = scan.rules.normalize(old_doc.get("attributes") or {})
        after = scan.rules.normalize(doc.get("attributes") or {})
        changes = [c.as_dict() for c in field_changes(before, after, scan.rules.is_ignored)]
    previous = envelope_changes(old_doc, doc)
    _notify(ctx, scan, stored.key, "update", version, doc, stored.hash, new_hash, changes, previous, False)
    scan.result.updated += 1


def _notify(
    ctx: _CommitContext, scan: _Scan, key: str, action: str, version: int, doc: dict[str, Any],
    old_hash: int | None, new_hash: int | None, changes: list[dict[str, Any]] | None,
    previous: dict[str, Any] | None, initial: bool, entity: Any = ...,
) -> None:
    if initial and action == "create" and ctx.settings.initial_load == "silent":
        return
    parent = doc.get("parent")
    change = Change(
        source=ctx.source.name, entity_type=scan.etype.name, key=key, action=action, version=version,
        epoch=ctx.epoch, initial=initial, time=ctx.now, name=doc.get("name"),
        parent=None if not parent else (parent["type"], parent["key"]), state=doc.get("state"),
        project=doc.get("project"), hash=None if new_hash is None else hash_hex(to_unsigned(new_hash)),
        previous_hash=None if old_hash is None else hash_hex(to_unsigned(old_hash)), changes=changes,
        previous=previous, entity=doc.get("attributes") if entity is ... else entity, run_id=ctx.result.run_id,
    )
    notification_id = change.id
    body = render(change, notification_id)
    if ctx.settings.emit is not None and ctx.settings.dry_run:
        ctx.settings.emit(body)
    ctx.outbox.append(
        {
            "id": notification_id, "source": change.source, "run_id": change.run_id, "entity_type": change.entity_type,
            "key": key, "action": action, "created_at": ctx.now, "body": body,
        }
    )


def _flush_outbox(tx: Transaction, ctx: _CommitContext) -> None:
    if ctx.outbox:
        tx.append_outbox(ctx.outbox)
        ctx.outbox = []


def _row(
    ctx: _CommitContext, etype: str, key: str, digest: int, version: int, payload: bytes | None,
    doc: dict[str, Any], first_seen: datetime,
) -> dict[str, Any]:
    from baseline.store import compress

    parent = doc.get("parent") or {}
    return {
        "source": ctx.source.name, "entity_type": etype, "key": key, "hash": digest, "version": version,
        "payload": None if payload is None else compress(payload), "name": doc.get("name"),
        "parent_type": parent.get("type"), "parent_key": parent.get("key"), "state": doc.get("state"),
        "project": doc.get("project"), "first_seen": first_seen, "last_changed": first_seen, "misses": 0,
        "deleted_at": None,
    }


def _update_row(
    key: str, digest: int, version: int, payload: bytes | None, doc: dict[str, Any], changed: datetime
) -> dict[str, Any]:
    from baseline.store import compress

    parent = doc.get("parent") or {}
    return {
        "key": key, "hash": digest, "version": version, "payload": None if payload is None else compress(payload),
        "name": doc.get("name"), "parent_type": parent.get("type"), "parent_key": parent.get("key"),
        "state": doc.get("state"), "project": doc.get("project"), "last_changed": changed, "misses": 0,
    }


def _record_failure(store: Store, result: RunResult, settings: RunSettings) -> None:
    if settings.dry_run or result.run_id is None:
        return
    result.finished_at = settings.clock()
    try:
        store.fail_run(result.run_id, result.finished_at, result.status, result.summary())
    except BaselineError:
        log.warning("run_record_failed")


def _log_run(result: RunResult) -> None:
    duration = (result.finished_at - result.started_at).total_seconds() if result.finished_at else None
    event = log.info if result.status == "ok" else log.warning
    event(
        "run_finished", status=result.status, run_id=result.run_id, dry_run=result.dry_run,
        duration_s=None if duration is None else round(duration, 3), listed=result.count("listed"),
        created=result.count("created"), updated=result.count("updated"), deleted=result.count("deleted"),
        held=result.held, error=result.error,
    )


class _LeaseKeeper:
    """Renews the source's lease while a run lasts; remembers if renewal ever failed."""

    def __init__(self, store: Store, source: str, settings: RunSettings, holder: str, deadline: float | None) -> None:
        self.store, self.source, self.settings, self.holder = store, source, settings, holder
        self.deadline = deadline
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{source}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.lease_ttl / 3):
            if self.deadline is not None and time.monotonic() > self.deadline:
                # A run stuck past its timeout (a hung API call) must not keep the source
                # busy for other processes forever: let the lease expire.
                self.lost = True
                return
            now = self.settings.clock()
            try:
                if not self.store.acquire_lease(
                    self.source, self.holder, now + timedelta(seconds=self.settings.lease_ttl), now
                ):
                    self.lost = True
            except BaselineError:
                log.warning("lease_renewal_failed")

    def still_ours(self, tx: Transaction) -> bool:
        """True while this process holds the lease (checked inside the commit's transaction)."""
        return not self.lost and tx.lease_holder(self.source) == self.holder
