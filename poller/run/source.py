"""The run of one source: list every entity type, compare with the baseline, and commit
the baseline changes and their notifications in one transaction.

Owns the change semantics of DESIGN.md (all or nothing per type, deletions only after
complete listings, the mass-deletion guard). Inside a run, failures become data (an
incomplete type, a failed run); only a broken store or a bug escapes as an exception.
"""

from __future__ import annotations

import time

import structlog

from baseline.errors import BaselineError
from baseline.store import Store
from collectors.base import Collector, EntityType
from collectors.errors import AuthenticationFailed, CollectorError, SourceFailed
from poller.config import SourceConfig
from poller.run.commit import commit
from poller.run.confirm import confirm_deletions
from poller.run.lease import PROCESS, LeaseKeeper, new_holder
from poller.run.outcome import LeaseLost, RunAbandoned, RunResult, RunSettings, TypeResult
from poller.run.render_pool import RenderFailed
from poller.run.scan import Scan, rehash, rules_for, scan_type

__all__ = [
    "PROCESS", "LeaseLost", "RunAbandoned", "RunResult", "RunSettings", "TypeResult", "new_holder", "rehash", "rules_for", "run_source",
]

log = structlog.get_logger("poller.run")

# A run that created at least this many entities refreshes the database's statistics.
BULK_LOAD = 10_000


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
    keeper: LeaseKeeper | None = None
    holder = new_holder()
    if not settings.dry_run:
        keeper = LeaseKeeper(store, source.name, settings.lease_ttl, deadline, holder)
        try:
            acquired = keeper.acquire()
        except BaselineError as exc:  # F13: the baseline stayed locked past baseline.lock_timeout
            result.status, result.error = "failed", str(exc)
            log.error("run_failed", error=str(exc))
            return result
        if not acquired:
            other = store.lease_holder(source.name)
            result.status = "busy"
            result.error = f"source {source.name} is being run by another process ({other}); skipped"
            log.warning("source_busy", holder=other)
            return result
        result.holder, result.token = holder, keeper.token
        # The run starts when it holds the lease: waiting for the lease row (another node's commit
        # and release) is not part of it, so a source's recorded runs never overlap in time.
        result.started_at = settings.clock()
    scans: list[Scan] = []
    try:
        if keeper is not None:
            result.run_id = store.start_run(source.name, holder, result.started_at)
        with structlog.contextvars.bound_contextvars(run_id=result.run_id):
            result.warnings = list(collector.warnings())
            for warning in result.warnings:
                log.warning("collector_warning", message=warning)
            reached = _connect(collector, result)
            types = _types_to_list(source, collector, store, result) if reached else []
            for etype in types:
                scan = scan_type(source, collector, store, etype, settings, deadline)
                result.types.append(scan.result)
                if scan.result.status == "complete":
                    scans.append(scan)
                else:
                    scan.spool.close()
                if scan.failure is not None:  # source-wide: stop here, the rest is not tried
                    _source_failed(result, scan.failure, types[len(result.types):], scans)
                    reached = False
                    break
            if not reached:
                _record_failure(store, result, settings)
                raise _Failed
            _finish_status(result, types)
            if settings.progress is not None:
                settings.progress.phase(source.name, "comparing")
            confirm_deletions(source, collector, settings, scans, deadline)  # network I/O: before the commit
            if deadline is not None and time.monotonic() > deadline:
                raise RunAbandoned(f"source {source.name} ran past its timeout of {settings.timeout:g}s")
            if settings.progress is not None:
                settings.progress.phase(source.name, "committing")
            commit(source, store, settings, result, scans, keeper, deadline)
        if not settings.dry_run and result.count("created") >= BULK_LOAD:
            _analyze(store)
    except _Failed:
        pass
    except LeaseLost as exc:
        # F17/F23: another run took the source over (this process froze or stalled past its
        # lease): nothing of this run is committed, so the baseline never goes backwards.
        result.status, result.error = "lease_lost", str(exc)
        for t in result.types:
            t.created = t.updated = t.deleted = 0
        log.error("run_lease_lost", reason=str(exc), token=result.token)
        _record_failure(store, result, settings)
    except RunAbandoned as exc:
        result.status, result.error = "partial", str(exc)
        for t in result.types:
            t.created = t.updated = t.deleted = 0
        log.error("run_abandoned", reason=str(exc))
        _record_failure(store, result, settings)
    except (BaselineError, RenderFailed) as exc:
        # F27: the commit (or a read before it) failed and was rolled back: nothing of this run is
        # committed, so it reports no changes (not the ones its commit had reached when it broke).
        # A render worker that died (RenderFailed) fails the commit the same way.
        result.status, result.error = "failed", str(exc)
        for t in result.types:
            t.created = t.updated = t.deleted = 0
        log.error("run_failed", error=str(exc))
        _record_failure(store, result, settings)
    finally:
        for scan in scans:
            scan.spool.close()
        if keeper is not None:
            keeper.release()  # retried in the background if the database does not answer
    result.finished_at = result.finished_at or settings.clock()
    _log_run(result)
    return result


class _Failed(Exception):
    """Internal: the source failed as a whole; the failure is recorded, nothing is committed."""


def _connect(collector: Collector, result: RunResult) -> bool:
    """Authenticate or probe once before listing; False (and the run failed) when the source cannot be listed."""
    try:
        collector.connect()
    except SourceFailed as exc:
        _source_failed(result, exc, [], [])
        return False
    return True


def _source_failed(result: RunResult, exc: SourceFailed, untried: list[EntityType], scans: list[Scan]) -> None:
    """A source-wide failure: the run's one error line is its run_finished; untried types are ``not_tried``."""
    result.status, result.error = "failed", str(exc)
    result.failure = "auth" if isinstance(exc, AuthenticationFailed) else "unreachable"
    result.types.extend(TypeResult(t.name, status="not_tried") for t in untried)
    for scan in scans:
        scan.spool.close()
    scans.clear()


def _analyze(store: Store) -> None:
    """Best effort: the run is committed; stale statistics only cost speed."""
    try:
        store.analyze()
    except BaselineError as exc:
        log.warning("analyze_failed", error=str(exc))


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
    event = log.info if result.status == "ok" else log.error if result.status == "failed" else log.warning
    event(
        "run_finished", status=result.status, run_id=result.run_id, dry_run=result.dry_run,
        duration_s=None if duration is None else round(duration, 3), listed=result.count("listed"),
        created=result.count("created"), updated=result.count("updated"), deleted=result.count("deleted"),
        held=result.held, unconfirmed=result.count("unconfirmed"), error=result.error,
        **({"failure": result.failure} if result.failure else {}),
    )
