"""Committing a run: baseline rows, deletions and notifications in one transaction.

Turns the spooled changes of every completely listed type into baseline writes and
outbox rows inside the one transaction the store opens; applies the deletion policy
(misses, the mass-deletion guard). Nothing here talks to a collector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog

from baseline import codec
from baseline.diff import DeletionPolicy, entity_document, envelope_changes, field_changes, plan_deletions
from baseline.store import Store, StoredEntity, Transaction
from poller.config import SourceConfig
from poller.notification import BASELINE_INITIALIZED, BASELINE_TYPE, BaselineMarker, render_marker
from poller.run.confirm import deletion_policy
from poller.run.lease import LeaseKeeper
from poller.run.outcome import LeaseLost, RunAbandoned, RunResult, RunSettings
from poller.run.render_pool import RenderPool
from poller.run.rows import ENTITY_COLUMNS, OUTBOX_COLUMNS, CommitFacts, CreatedBatch, created_rows, notification_row
from poller.run.scan import Scan, rehash
from poller.run.spool import Chunk, Pending, Spool
from poller.run.workers import default_workers

log = structlog.get_logger("poller.run")


@dataclass
class _CommitContext:
    source: SourceConfig
    settings: RunSettings
    result: RunResult
    epoch: str
    new_epoch: bool
    now: datetime
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # What the commit hands on once committed: (id, source, type, action, body, body compressed).
    published: Spool | None = None
    # The type being committed (what its rows share) and its zstd dictionaries (baseline.codec).
    facts: CommitFacts | None = None
    payload_dict: int | None = None
    body_dict: int | None = None


def commit(
    source: SourceConfig, store: Store, settings: RunSettings, result: RunResult, scans: list[Scan],
    keeper: LeaseKeeper | None, deadline: float | None,
) -> None:
    """Commit the complete scans, their notifications and the run record in one transaction."""
    tombstones = {scan.etype.name: store.load_tombstones(source.name, scan.etype.name) for scan in scans}
    published = None if settings.dry_run else Spool()
    try:
        _commit(source, store, settings, result, scans, keeper, deadline, tombstones, published)
    except BaseException:
        if published is not None:
            published.close()
        raise
    result.published = published  # only once the transaction committed


def _commit(
    source: SourceConfig, store: Store, settings: RunSettings, result: RunResult, scans: list[Scan],
    keeper: LeaseKeeper | None, deadline: float | None, tombstones: dict[str, dict[str, int]], published: Spool | None,
) -> None:
    with store.transaction(readonly=settings.dry_run) as tx:
        # Checked again inside the transaction: waiting for the write lock must not carry a
        # timed-out run into a commit the service has already given up on.
        if deadline is not None and time.monotonic() > deadline:
            raise RunAbandoned(f"source {source.name} ran past its timeout of {settings.timeout:g}s")
        # The fence (F17/F23): the lease row stays locked until this transaction ends, and
        # only the run holding the current token commits.
        if keeper is not None and not keeper.still_ours(tx):
            raise LeaseLost(
                f"source {source.name}: lease lost before commit (token {keeper.token} is no longer current);"
                " nothing committed"
            )
        now = settings.clock()
        epoch, new_epoch = tx.ensure_epoch(source.name, now)
        first = [scan.etype.name for scan in scans if new_epoch or scan.state is None]
        if first and not settings.dry_run:
            # F25: a rebuilt or new baseline says so, whatever initial_load is (silent included).
            log.info("first_load", source=source.name, epoch=epoch, new_epoch=new_epoch, types=first,
                        initial_load=settings.initial_load,
                        note=f"first load for epoch {epoch}: its creates are flagged initial"
                        if settings.initial_load != "silent" else
                        f"first load for epoch {epoch}: recorded without a notification per entity, announced by one "
                        "baseline_initialized notification (initial_load: silent)")
        ctx = _CommitContext(source, settings, result, epoch, new_epoch, now, published=published)
        for scan in scans:
            with structlog.contextvars.bound_contextvars(entity_type=scan.etype.name):
                ctx.facts = CommitFacts(
                    source=source.name, entity_type=scan.etype.name, epoch=epoch, now=now, run_id=result.run_id,
                    initial=scan.state is None or new_epoch, silent=settings.initial_load == "silent",
                    max_bytes=settings.max_notification_bytes, store_payloads=settings.store_payloads,
                )
                ctx.payload_dict = tx.dictionary(source.name, scan.etype.name, "payload")
                ctx.body_dict = tx.dictionary(source.name, scan.etype.name, "body")
                _apply_type(tx, ctx, scan, tombstones[scan.etype.name])
                ctx.facts = ctx.payload_dict = ctx.body_dict = None
        if first and settings.initial_load == "silent" and settings.record_listing:
            _mark_baseline(ctx, {scan.etype.name: scan.result.created for scan in scans if scan.etype.name in first})
        _flush_outbox(tx, ctx)
        result.finished_at = settings.clock()
        if result.run_id is not None:
            tx.finish_run(result.run_id, result.finished_at, result.status, result.summary())


def _apply_type(tx: Transaction, ctx: _CommitContext, scan: Scan, tombstones: dict[str, int]) -> None:
    name, src = scan.etype.name, ctx.source.name
    refingerprint = scan.state is not None and scan.state.fingerprint != scan.rules.fingerprint
    created = deleted = 0
    pool: RenderPool | None = None
    stamp: Any = None  # the commit's time in the driver's form, for the pool's rows
    inline: list[Pending] = []  # changes read here, applied by this process a thousand or more at a time
    applied = 0
    try:
        for chunk in scan.spool.chunks():
            if applied >= _FIRST_BATCH and _renders_elsewhere(ctx, chunk):
                # A chunk of creations only, after the first thousand changes (which trained the
                # dictionaries): rendered by the pool, which reads it from the spool itself, while
                # this process inserts the ones before it.
                if inline:  # the pool holds nothing now: it was emptied before these were read
                    created += _apply_inline(tx, ctx, scan, inline, tombstones, refingerprint)
                    applied += len(inline)
                    inline = []
                pool = pool or _render_pool(ctx, scan.spool, tombstones)
                stamp = stamp or tx.driver_stamp(ctx.now)
                for done in pool.submit(ctx.facts, chunk, ctx.payload_dict, ctx.body_dict, stamp):  # type: ignore[arg-type]
                    _take_rendered(tx, ctx, done, tombstones)
                created += chunk.count
                continue
            if pool is not None:
                for done in pool.results():  # what the pool holds goes first: outbox order is listing order
                    _take_rendered(tx, ctx, done, tombstones)
            inline.extend(Pending(*item) for item in scan.spool.read(chunk))
            if len(inline) >= _FIRST_BATCH:
                created += _apply_inline(tx, ctx, scan, inline, tombstones, refingerprint)
                applied += len(inline)
                inline = []
        if pool is not None:
            for done in pool.results():
                _take_rendered(tx, ctx, done, tombstones)
        if inline:
            created += _apply_inline(tx, ctx, scan, inline, tombstones, refingerprint)
    finally:
        if pool is not None:
            pool.close()
    scan.result.created = created
    resets = [{"key": k, "misses": 0} for k in scan.misses if scan.diff.listed(k)]
    tx.update_entities(src, name, resets)
    tx.update_entities(src, name, [{"key": k, "source_digest": d} for k, d in scan.touched])
    if scan.result.delta:
        deleted = _delete(tx, ctx, scan, [k for k in scan.gone if k in scan.baseline])
    else:
        plan = scan.plan or plan_deletions(scan.diff.absent(), scan.misses, len(scan.baseline), _policy(ctx))
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


def _apply_inline(
    tx: Transaction, ctx: _CommitContext, scan: Scan, batch: list[Pending], tombstones: dict[str, int], refingerprint: bool,
) -> int:
    """Apply a batch here, training the type's payload dictionary on it first if it has none yet."""
    if ctx.payload_dict is None and ctx.settings.store_payloads and len(batch) >= codec.MIN_SAMPLES:
        ctx.payload_dict = tx.add_dictionary(ctx.source.name, scan.etype.name, "payload", [p.document for p in batch], ctx.now)
    return _apply_batch(tx, ctx, scan, batch, tombstones, refingerprint)


def _apply_batch(
    tx: Transaction, ctx: _CommitContext, scan: Scan, batch: list[Pending], tombstones: dict[str, int], refingerprint: bool,
) -> int:
    """Write one batch of changes from this process; how many were creations."""
    assert ctx.facts is not None
    name, src = scan.etype.name, ctx.source.name
    old = tx.load_entities(src, name, [p.key for p in batch if p.action == "update"])
    inserts: list[dict[str, Any]] = []
    upserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    created = 0
    for pending in batch:
        payload = pending.document if ctx.settings.store_payloads else None
        if pending.action == "create":
            version = tombstones.get(pending.key, 0) + 1
            row, note = created_rows(ctx.facts, pending.key, pending.hash, pending.document, version, pending.source_digest)
            (upserts if pending.key in tombstones else inserts).append(row)
            _queue(ctx, note)
            created += 1
            continue
        doc = orjson.loads(pending.document)
        stored = old[pending.key]
        if refingerprint and stored.payload is not None and rehash(stored.payload, scan.rules) == pending.hash:
            updates.append(_update_row(pending.key, pending.hash, stored.version, payload, doc, stored.last_changed,
                                       pending.source_digest, ctx.payload_dict))
            continue
        version = stored.version + 1
        updates.append(_update_row(pending.key, pending.hash, version, payload, doc, ctx.now, pending.source_digest,
                                   ctx.payload_dict))
        _notify_update(ctx, scan, stored, pending.hash, version, doc)
    tx.insert_entities(inserts, ctx.payload_dict)
    tx.upsert_entities(upserts, ctx.payload_dict)
    tx.update_entities(src, name, updates)
    _flush_outbox(tx, ctx)
    return created


def _renders_elsewhere(ctx: _CommitContext, chunk: Chunk) -> bool:
    """Whether a spool chunk goes to the render pool: creations only (``_POOL_BATCH`` of them at
    least), of a real (not dry) run, with more than one core to render on."""
    if ctx.settings.dry_run or (ctx.settings.hash_workers or default_workers()) < 2:
        return False
    return chunk.creations_only and chunk.count >= _POOL_BATCH


# The changes applied by this process before the render pool takes any: the first ones train
# the type's zstd dictionaries (codec.TRAIN_SAMPLES), which the pool's workers are forked with.
_FIRST_BATCH = codec.TRAIN_SAMPLES

# The smallest batch worth the render pool: forking it and handing it the dictionaries costs
# more than rendering a few hundred creations here (a second snapshot's 0.1% new entities).
_POOL_BATCH = 500


def _render_pool(ctx: _CommitContext, spool: Spool, tombstones: dict[str, int]) -> RenderPool:
    dictionaries = [(d, codec.dictionary_bytes(d)) for d in (ctx.payload_dict, ctx.body_dict) if d is not None]
    return RenderPool(ctx.settings.hash_workers or default_workers(), dictionaries, spool, tombstones)


def _take_rendered(tx: Transaction, ctx: _CommitContext, done: CreatedBatch, tombstones: dict[str, int]) -> None:
    """Insert a batch the render pool built (tuples, blobs compressed, timestamps in the driver's form)."""
    key = ENTITY_COLUMNS.index("key")
    tx.insert_entity_tuples(ENTITY_COLUMNS, [r for r in done.rows if r[key] not in tombstones])
    recreated = [{**dict(zip(ENTITY_COLUMNS, r, strict=True)), "first_seen": ctx.now, "last_changed": ctx.now}
                 for r in done.rows if r[key] in tombstones]  # rare: over a tombstone, through SQLAlchemy
    tx.upsert_entities(recreated, compressed=True)
    tx.append_outbox_tuples(OUTBOX_COLUMNS, done.notes)
    if ctx.published is not None:
        for nid, source, _run, etype, _key, action, _at, body in done.notes:
            ctx.published.append((nid, source, etype, action, body, True))


def _policy(ctx: _CommitContext) -> DeletionPolicy:
    return deletion_policy(ctx.source, ctx.settings)


def _finish_type(tx: Transaction, ctx: _CommitContext, scan: Scan, created: int, deleted: int) -> None:
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


def _note_held(ctx: _CommitContext, scan: Scan) -> None:
    if scan.result.held:
        ctx.result.status = "partial" if ctx.result.status == "ok" else ctx.result.status
        ctx.result.error = ctx.result.error or (
            f"{scan.result.held} deletions of {scan.etype.name} held by the mass-deletion guard "
            "(rerun with --allow-mass-delete to release them)"
        )


def _delete(tx: Transaction, ctx: _CommitContext, scan: Scan, keys: list[str]) -> int:
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


def _notify_update(ctx: _CommitContext, scan: Scan, stored: StoredEntity, new_hash: int, version: int, doc: dict[str, Any]) -> None:
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
    ctx: _CommitContext, scan: Scan, key: str, action: str, version: int, doc: dict[str, Any],
    old_hash: int | None, new_hash: int | None, changes: list[dict[str, Any]] | None,
    previous: dict[str, Any] | None, initial: bool, entity: Any = ...,
) -> None:
    assert ctx.facts is not None
    _queue(ctx, notification_row(ctx.facts, key, action, version, doc, old_hash, new_hash, changes, previous, initial,
                                 entity))


def _queue(ctx: _CommitContext, note: dict[str, Any] | None) -> None:
    """Queue one outbox row for the next flush (and print it in a dry run)."""
    if note is None:
        return
    if ctx.settings.emit is not None and ctx.settings.dry_run:
        ctx.settings.emit(note["body"])
    ctx.outbox.append(note)


def _mark_baseline(ctx: _CommitContext, types: dict[str, int]) -> None:
    """F25: the silent first load's one marker, last in its run's notifications (same outbox, same transaction)."""
    marker = BaselineMarker(ctx.source.name, ctx.epoch, ctx.new_epoch, ctx.now, types, ctx.result.run_id)
    body = render_marker(marker)
    if ctx.settings.emit is not None and ctx.settings.dry_run:
        ctx.settings.emit(body)
    ctx.outbox.append(
        {
            "id": marker.id, "source": marker.source, "run_id": marker.run_id, "entity_type": BASELINE_TYPE,
            "key": marker.epoch, "action": BASELINE_INITIALIZED, "created_at": ctx.now, "body": body,
        }
    )


def _flush_outbox(tx: Transaction, ctx: _CommitContext) -> None:
    if ctx.outbox:
        etype = None if ctx.facts is None else ctx.facts.entity_type
        if ctx.body_dict is None and etype is not None and len(ctx.outbox) >= codec.MIN_SAMPLES:
            ctx.body_dict = tx.add_dictionary(ctx.source.name, etype, "body", [r["body"] for r in ctx.outbox], ctx.now)
        tx.append_outbox(ctx.outbox, ctx.body_dict if etype is not None else None)
        if ctx.published is not None:
            for row in ctx.outbox:
                ctx.published.append((row["id"], row["source"], row["entity_type"], row["action"], row["body"], False))
        ctx.outbox = []


def _update_row(
    key: str, digest: int, version: int, payload: bytes | None, doc: dict[str, Any], changed: datetime,
    source_digest: int | None = None, dictionary: int | None = None,
) -> dict[str, Any]:

    parent = doc.get("parent") or {}
    return {
        "key": key, "hash": digest, "version": version, "payload": None if payload is None else codec.compress(payload, dictionary),
        "name": doc.get("name"), "parent_type": parent.get("type"), "parent_key": parent.get("key"),
        "state": doc.get("state"), "project": doc.get("project"), "last_changed": changed, "misses": 0,
        "source_digest": source_digest,
    }
