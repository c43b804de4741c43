"""Confirming deletions with the API before they are committed.

Owns the step between the scan and the commit: the keys a complete listing missed and
the deletion policy would delete are re-read one by one through the collector's
``fetch``. An entity the API still returns is compared like a listed one and is not
deleted; one the API cannot vouch for (a failed fetch, the ``deletion.confirm_max`` cap)
waits for the next run as a miss. Network I/O only: never inside a database
transaction, never writes the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from baseline.diff import DeletionPlan, DeletionPolicy, is_mass_deletion, plan_deletions
from collectors.base import Collector
from collectors.errors import AuthenticationFailed, CollectorError, SourceUnreachable, TypeUnavailable
from poller.config import SourceConfig
from poller.run.outcome import RunSettings
from poller.run.scan import Scan, observe_entity

log = structlog.get_logger("poller.run")


def can_fetch(collector: Collector) -> bool:
    """True when the collector re-reads single entities (it overrides ``Collector.fetch``)."""
    return type(collector).fetch is not Collector.fetch


def deletion_policy(source: SourceConfig, settings: RunSettings) -> DeletionPolicy:
    """The deletion policy of one source: its own ``deletion:`` section, else the run's."""
    base = settings.deletion
    own = source.deletion
    if own is None:
        return base
    return DeletionPolicy(own.min_misses, own.max_fraction, own.min_count, base.allow_mass_delete)


def confirm_limit(source: SourceConfig, settings: RunSettings) -> int:
    """How many deletions per type and run may be confirmed (``deletion.confirm_max``)."""
    own = source.deletion
    return settings.confirm_max if own is None else own.confirm_max


@dataclass
class _Budget:
    """What is left for confirming in this run: fetches per type, time, a reachable API."""

    per_type: int
    deadline: float | None
    stopped: str | None = None  # why no more fetches are made in this run

    def exhausted(self, done: int) -> str | None:
        if self.stopped is not None:
            return self.stopped
        if done >= self.per_type:
            return "confirm_max"
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "timeout"
        return None


def confirm_deletions(
    source: SourceConfig, collector: Collector, settings: RunSettings, scans: list[Scan], deadline: float | None,
) -> None:
    """Set each complete full scan's deletion plan, confirmed with the API where the collector can fetch.

    Without ``fetch``, or with ``confirm_max`` 0, the plan is the policy's alone (absence
    from a complete listing deletes, as before confirmation existed).
    """
    policy = deletion_policy(source, settings)
    budget = _Budget(confirm_limit(source, settings), deadline)
    fetching = budget.per_type > 0 and can_fetch(collector)
    plans = {id(scan): plan_deletions(scan.diff.absent(), scan.misses, len(scan.baseline), policy)
             for scan in scans if not scan.result.delta}  # a delta listing deletes what the API called gone
    if _source_wide_mass_deletion(source, scans, plans, policy):
        return
    for scan in scans:
        if scan.result.delta:
            continue
        plan = plans[id(scan)]
        if fetching and plan.delete:
            with structlog.contextvars.bound_contextvars(entity_type=scan.etype.name):
                plan = _confirm(collector, scan, plan, budget)
        scan.plan = plan


def _source_wide_mass_deletion(source: SourceConfig, scans: list[Scan], plans: dict[int, DeletionPlan],
                               policy: DeletionPolicy) -> bool:
    """F08 across the source: types each too small for the guard, emptied together (an "everything
    is empty" answer), hold every deletion of the run; True when it did."""
    listed = [scan for scan in scans if id(scan) in plans]
    due = sum(len(plans[id(scan)].delete) for scan in listed)
    if len(listed) < 2 or not is_mass_deletion(due, sum(len(scan.baseline) for scan in listed), policy):
        return False
    for scan in listed:
        plan = plans[id(scan)]
        scan.plan = DeletionPlan(held=plan.delete + plan.held, missed=plan.missed)
    log.error("mass_deletion_held_across_source", source=source.name, held=due, types=len(listed),
              hint="rerun with --allow-mass-delete to release them")
    return True


def _confirm(collector: Collector, scan: Scan, plan: DeletionPlan, budget: _Budget) -> DeletionPlan:
    """Fetch each planned deletion: gone ones stay planned, alive ones are observed, the rest wait."""
    gone: list[str] = []
    waiting: list[str] = []
    fetched = failed = 0
    reason = "fetch_failed"
    for index, key in enumerate(plan.delete):
        stop = budget.exhausted(fetched)
        if stop is not None:
            reason = stop
            waiting.extend(plan.delete[index:])
            break
        fetched += 1
        try:
            entity = collector.fetch(scan.etype, key)
        except TypeUnavailable:
            # This type cannot be re-read one by one: absence alone decides, as before.
            gone.extend(plan.delete[index:])
            break
        except (AuthenticationFailed, SourceUnreachable) as exc:
            budget.stopped = reason = "source_unreachable"
            log.warning("deletion_confirm_failed", key=key, error=str(exc), scope="source")
            failed += 1
            waiting.extend(plan.delete[index:])
            break
        except CollectorError as exc:
            log.warning("deletion_confirm_failed", key=key, error=str(exc))
            failed += 1
            waiting.append(key)
            continue
        except Exception as exc:  # a plugin bug must not delete anything, nor take the run down
            log.warning("deletion_confirm_failed", key=key, error=f"collector raised {type(exc).__name__}")
            failed += 1
            waiting.append(key)
            continue
        if entity is None:
            gone.append(key)
        elif entity.type != scan.etype.name or entity.key != key or not observe_entity(scan, entity):
            log.warning("deletion_confirm_failed", key=key, error="the API answered with another entity")
            failed += 1
            waiting.append(key)
        else:
            scan.result.unconfirmed += 1
            log.warning("deletion_unconfirmed", key=key, hint="missing from a complete listing, but the API still has it")
    if waiting:
        scan.result.deferred += len(waiting)
        log.warning("deletions_waiting", waiting=len(waiting), failed=failed,
                    reason=reason, hint="they are confirmed in a later run")
    missed = dict(plan.missed)
    for key in waiting:
        missed[key] = scan.misses.get(key, 0) + 1
    return DeletionPlan(delete=tuple(gone), missed=tuple(sorted(missed.items())), held=plan.held)
