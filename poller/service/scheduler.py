"""The long-running service (``poller run``): every enabled source on its own schedule.

Owns scheduling (APScheduler 3.x), the per-source guard against overlapping runs, run
timeouts, handing committed notifications to the sinks, SIGHUP reloads and the graceful
stop. It never changes a baseline itself (runs do, through ``snapshot.run_one``) and it
never waits on a run past the source's timeout: a run thread stuck in a network call is
left behind, and the run's own deadline check keeps it from committing.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from baseline.errors import BaselineError
from baseline.store import Store
from collectors.errors import CollectorError
from poller.config import Config, SourceConfig, load_config
from poller.errors import ConfigError, PollerError, SinkError
from poller.run.snapshot import build_collector, build_dispatcher, committed_records, open_config_store, run_one, settings_for
from poller.run.source import RunResult, RunSettings
from poller.service.backoff import Backoff
from poller.service.clock import ClockWatch, moved_run_time
from poller.service.health import Freshness
from poller.service.metrics import Metrics, MetricsServer
from poller.service.sdnotify import Notifier

log = structlog.get_logger("poller.service")

DELIVERY_INTERVAL = 5.0  # seconds between retries of durable sinks' backlog
PRUNE_INTERVAL = 3600.0  # seconds between prunes of delivered history older than baseline.history_days
TIMEOUT_GRACE = 1.0  # the scheduler stops waiting this long after a run's own deadline
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# ------------------------------------------------------------------ triggers


def build_trigger(source: SourceConfig, *, jitter: bool = True) -> BaseTrigger:
    """The APScheduler trigger of a source: its cron expression (UTC) or its interval, with jitter."""
    spread = (source.jitter or None) if jitter else None
    if source.cron:
        minute, hour, day, month, dow = source.cron.split()
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(dow),
                           timezone=UTC, jitter=spread)
    return IntervalTrigger(seconds=source.interval or 300.0, timezone=UTC, jitter=spread)


def crontab_weekdays(text: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler day names.

    APScheduler 3.x numbers weekdays from Monday (its documented ``from_crontab`` mismatch);
    operators write crontab numbers, so numbers are translated, never passed through.
    """
    if text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(span)
            high = 7 if step_text else low
        if high < low:
            high += 7
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_DOW[d] for d in sorted(days))


def _weekday(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    name = text[:3].lower()
    if name in _DOW:
        return _DOW.index(name)
    raise ValueError(f"not a day of the week: {text!r}")


def schedule_period(source: SourceConfig, now: datetime) -> float:
    """The source's period in seconds: interval plus jitter, or the longest gap of its next cron fires."""
    if not source.cron:
        return (source.interval or 300.0) + source.jitter
    trigger = build_trigger(source, jitter=False)
    fires = list(_fires(trigger, now, 12))
    gaps = [(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)]
    return (max(gaps) if gaps else 86400.0) + source.jitter


def next_fire(source: SourceConfig, now: datetime, last_started: datetime | None) -> datetime | None:
    """When the schedule next fires: the cron's next time, or the last run's start plus the interval."""
    if source.cron:
        return next(_fires(build_trigger(source, jitter=False), now, 1), None)
    if last_started is None:
        return None
    return last_started + timedelta(seconds=source.interval or 300.0)


def _fires(trigger: BaseTrigger, now: datetime, count: int) -> Iterator[datetime]:
    previous: datetime | None = None
    moment = now
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            return
        yield fire
        previous, moment = fire, fire + timedelta(seconds=1)


# ------------------------------------------------------------------ the service


@dataclass
class _Flight:
    """One run in progress: the scheduler waits on ``done`` up to the source's timeout."""

    source: str
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False


class Service:
    """Schedules the config's enabled sources; see the module docstring for what it promises."""

    def __init__(self, config_path: str, config: Config, store: Store, metrics: Metrics | None = None) -> None:
        self.config_path = config_path
        self.config = config
        self.store = store
        self.metrics = metrics or Metrics()
        self.health = Freshness(datetime.now(UTC))
        self.backoff = Backoff()  # sources whose credentials were rejected (lockout safety)
        self.server: MetricsServer | None = None
        self.events: Any = None  # the embedded push-event intake (poller.events.EventService), when configured
        self.notifier = Notifier()  # systemd readiness and watchdog (a no-op outside Type=notify)
        self.cluster: Any = None  # poller.service.cluster.Cluster when coordination: is configured
        self._db_health_at = 0.0
        self._sources = {s.name: s for s in config.sources if s.enabled}
        self._settings = settings_for(config)
        self._dispatcher = build_dispatcher(config, store, include_stdout=True)
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._leftovers: dict[str, str] = {}  # source -> lease holder of a failed run that may not have released it
        self._stopping = False
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._stop_reason: str | None = None
        self._reload_requested = False
        self._delivery_due = threading.Event()
        self._clock_watch = ClockWatch()
        self._overdue: set[str] = set()  # sources whose last run is older than their period at start (F24)
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(config.service.workers), "delivery": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": _grace(config)},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the metrics server (when configured), then schedule every enabled source."""
        svc = self.config.service
        self.events = _event_service(self.config, self.store, self._on_refresh)
        if svc.metrics_port is not None:
            try:
                self.server = MetricsServer(svc.metrics_host, svc.metrics_port, self.metrics, self._health_report, self._live_report)
            except OSError as exc:
                raise PollerError(
                    f"service.metrics_port: cannot listen on {svc.metrics_host}:{svc.metrics_port} ({exc.strerror or type(exc).__name__})"
                ) from exc
            self.server.start()
        if self.events is not None:
            self.events.start()
        self._seed_freshness()
        self._scheduler.start()
        if self.config.coordination is not None:
            self._start_cluster()  # schedules the sources the ring gives this node, once joined
        else:
            for source in self._sources.values():
                self._add_job(source, first_run=source.run_at_start or source.name in self._overdue)
        self._scheduler.add_job(self._deliver, IntervalTrigger(seconds=DELIVERY_INTERVAL, timezone=UTC), id="deliver",
                                name="deliver", executor="delivery", next_run_time=datetime.now(UTC))
        self._scheduler.add_job(self._prune, IntervalTrigger(seconds=PRUNE_INTERVAL, timezone=UTC), id="prune", name="prune",
                                executor="delivery")
        if not self._sources and self.events is None:
            log.warning("no_enabled_sources", config=self.config_path, hint="add sources and send SIGHUP")
        log.info("service_started", config=self.config_path, sources=sorted(self._sources), workers=svc.workers,
                 metrics=None if self.server is None else f"{self.server.host}:{self.server.port}")

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT request a graceful stop, SIGHUP a reload (call from the main thread)."""
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop("SIGTERM"))
        signal.signal(signal.SIGINT, lambda *_: self.request_stop("SIGINT"))
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the main loop to stop (safe from a signal handler)."""
        self._stop_reason = self._stop_reason or reason
        self._wake.set()

    def request_reload(self) -> None:
        """Ask the main loop to reload the configuration (safe from a signal handler)."""
        self._reload_requested = True
        self._wake.set()

    def serve(self) -> int:
        """Run until a stop is requested, reloading on request; then stop gracefully and return 0."""
        while self._stop_reason is None:
            self._wake.wait(min(1.0, self.notifier.ping_interval or 1.0))
            self._wake.clear()
            if self._scheduler.running:
                self.notifier.ping_if_due()  # systemd's watchdog: this loop and the scheduler are alive
            step = self._clock_watch.check()
            if step is not None:
                self._on_clock_step(step)
            if self._reload_requested and self._stop_reason is None:
                self._reload_requested = False
                self.reload()
        self.notifier.stopping(f"stopping ({self._stop_reason})")
        self.stop()
        return 0

    def _on_clock_step(self, step: float) -> None:
        """F21: after a wall-clock step, move every job's next run (see poller.service.clock)."""
        now = datetime.now(UTC)
        moved = 0
        for job in self._scheduler.get_jobs():
            if job.next_run_time is None:
                continue
            catch_up = job.id.startswith("source:")
            job.modify(next_run_time=moved_run_time(job.next_run_time, step, now, catch_up=catch_up))
            moved += catch_up
        if step > 0:
            log.warning("clock_stepped_forward", step_s=round(step, 1), catch_up_runs=moved,
                        missed_from=(now - timedelta(seconds=step)).isoformat(), missed_to=now.isoformat())
        else:
            log.warning("clock_stepped_back", step_s=round(step, 1), sources=moved,
                        note="each job keeps the wait it had left; no run is repeated")

    def stop(self) -> None:
        """Stop scheduling, let running sources finish up to service.stop_timeout, deliver what is pending."""
        log.info("service_stopping", reason=self._stop_reason or "requested")
        with self._lock:
            self._stopping = True
            waiting = [f for f in self._flights.values() if not f.done.is_set() and not f.abandoned]
        self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.config.service.stop_timeout
        if self.events is not None:
            self.events.stop(self.config.service.stop_timeout)
        for flight in waiting:
            flight.done.wait(max(0.0, deadline - time.monotonic()))
        left = sorted(f.source for f in waiting if not f.done.is_set())
        if left:
            log.warning("runs_left_unfinished", sources=left, stop_timeout_s=self.config.service.stop_timeout,
                        hint="they commit nothing; their changes come with the next run")
        self._halt.set()
        self._final_delivery()
        if self.cluster is not None:
            self.cluster.stop()
        if self.server is not None:
            self.server.stop()
        log.info("service_stopped", unfinished=len(left))

    def _final_delivery(self) -> None:
        with self._deliver_lock:
            dispatcher = self._dispatcher
            try:
                dispatcher.deliver_pending(force=True)
                for name, waiting in dispatcher.backlog().items():
                    if waiting and dispatcher.may_deliver(name):  # a cluster node speaks only for the sinks it delivers
                        log.warning("notifications_waiting", sink=name, backlog=waiting, error=dispatcher.state[name].last_error)
            except BaselineError as exc:
                log.error("final_delivery_failed", error=str(exc), hint="pending notifications stay in the outbox")
            dispatcher.close()

    # -------------------------------------------------------------- scheduling

    def _add_job(self, source: SourceConfig, *, first_run: bool) -> None:
        extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if first_run else {}
        self._scheduler.add_job(self._scheduled, build_trigger(source), args=(source.name,), id=_job_id(source.name),
                                name=source.name, replace_existing=True, **extra)

    def _on_event(self, event: JobExecutionEvent) -> None:
        if not event.job_id.startswith("source:"):
            return
        name = event.job_id.removeprefix("source:")
        if event.code == EVENT_JOB_MISSED:
            self.metrics.misfires.labels(name).inc()
            log.warning("run_missed", source=name, scheduled_for=event.scheduled_run_time.isoformat(),
                        misfire_grace_s=self.config.service.misfire_grace)
        else:
            self.metrics.skipped.labels(name, "overlap").inc()
            log.info("run_coalesced", source=name, reason="the previous run is still going")

    def _scheduled(self, name: str) -> None:
        """The job of one source: start its run on its own thread, wait at most until its timeout."""
        if self.cluster is not None and not self.cluster.may_run(name):
            self.metrics.skipped.labels(name, "not_owned").inc()
            return
        source = self._sources.get(name)
        if source is not None and self.backoff.take_skip(name):
            self.metrics.skipped.labels(name, "backoff").inc()
            return
        flight = None if source is None else self._begin(source)
        if source is None or flight is None:
            return
        limit = None if source.timeout is None else time.monotonic() + source.timeout + TIMEOUT_GRACE
        while not flight.done.wait(0.5):
            if self._halt.is_set():
                return
            if limit is not None and time.monotonic() > limit:
                flight.abandoned = True
                self.metrics.timeouts.labels(name).inc()
                log.error("run_timed_out", source=name, timeout_s=source.timeout,
                          hint="abandoned: past its deadline it commits nothing; its next runs are skipped until it unwinds")
                return

    def _begin(self, source: SourceConfig) -> _Flight | None:
        with self._lock:
            if self._stopping:
                return None
            current = self._flights.get(source.name)
            if current is not None and not current.done.is_set():
                reason = "timed_out_run_unwinding" if current.abandoned else "still_running"
                self.metrics.skipped.labels(source.name, reason).inc()
                log.warning("run_skipped", source=source.name, reason=reason,
                            running_s=round(time.monotonic() - current.started, 1))
                return None
            flight = _Flight(source.name, time.monotonic())
            self._flights[source.name] = flight
        self.metrics.running.inc()
        threading.Thread(target=self._execute, args=(source, flight), name=f"run-{source.name}", daemon=True).start()
        return flight

    def _execute(self, source: SourceConfig, flight: _Flight) -> None:
        """One run on its own thread; every outcome, even a database outage, becomes a RunResult."""
        started = datetime.now(UTC)
        settings: RunSettings = replace(self._settings, timeout=source.timeout)
        result: RunResult | None = None
        try:
            result = run_one(source, self.store, settings)
            if result.status == "busy" and self._release_leftover_lease(source.name):
                result = run_one(source, self.store, settings)
            if result.holder is not None and result.status == "failed":
                self._leftovers[source.name] = result.holder  # its release may have failed with the database
        except BaselineError as exc:
            log.error("run_failed", source=source.name, error=str(exc))
            result = RunResult(source.name, "failed", started, finished_at=datetime.now(UTC), error=str(exc))
        except Exception as exc:  # a bug must not kill the service; it is logged and counted as a failure
            log.error("run_crashed", source=source.name, error=type(exc).__name__, exc_info=True)
            error = f"internal error ({type(exc).__name__})"
            result = RunResult(source.name, "failed", started, finished_at=datetime.now(UTC), error=error)
        finally:
            try:
                if result is not None:
                    self._after_run(source, result, time.monotonic() - flight.started)
            finally:
                self.metrics.running.dec()
                flight.done.set()

    def _track_backoff(self, source: SourceConfig, result: RunResult) -> None:
        """A rejected login backs the source off (logged once per attempt); a run past the login resets it."""
        if result.failure == "auth":
            every = self.backoff.rejected(source.name, schedule_period(source, datetime.now(UTC)))
            log.warning("source_backoff", source=source.name, rejected_runs=self.backoff.level(source.name),
                        next_attempt_in_runs=every, reason="credentials rejected",
                        hint="scheduled runs are skipped until then so the account is not locked out")
        elif result.failure is None and result.status != "busy":
            rejected = self.backoff.succeeded(source.name)
            if rejected:
                log.info("source_backoff_reset", source=source.name, after_rejected_runs=rejected)
        self.metrics.backoff.labels(source.name).set(self.backoff.level(source.name))

    def _release_leftover_lease(self, name: str) -> bool:
        """Free the lease a failed run of ``name`` left behind (the database went away before
        it could give it back); it would otherwise keep the source busy until it expires.
        Only that run's own holder id is released, never a live run's or a refresh's.
        """
        holder = self._leftovers.pop(name, None)
        if holder is None:
            return False
        try:
            if self.store.lease_holder(name) != holder:
                return False
            self.store.release_lease(name, holder)
        except BaselineError:
            return False
        log.warning("leftover_lease_released", source=name, holder=holder)
        return True

    def _after_run(self, source: SourceConfig, result: RunResult, duration: float) -> None:
        """Metrics and health, then the run's notifications to non-durable sinks, then wake delivery."""
        self.metrics.observe_run(result, duration)
        self._track_backoff(source, result)
        if result.status == "ok":
            self.health.record_ok(source.name, result.finished_at or datetime.now(UTC))
        try:
            if result.run_id is not None and result.types:
                self.metrics.set_entities(source.name, self._entity_counts(source.name, result))
            if result.run_id is not None and result.changes and not result.dry_run:
                self._publish(result)
                self._wake_delivery()
        except BaselineError as exc:
            log.warning("after_run_failed", source=source.name, error=str(exc),
                        hint="notifications stay in the outbox for the durable sinks")

    def _on_refresh(self, result: RunResult) -> None:
        """A committed push-event refresh: count its changes, publish them, wake delivery."""
        self.metrics.observe_changes(result)
        try:
            if result.run_id is not None and result.changes:
                self._publish(result)
                self._wake_delivery()
        except BaselineError as exc:
            log.warning("after_refresh_failed", source=result.source, error=str(exc))

    def _entity_counts(self, source: str, result: RunResult) -> dict[str, int]:
        counts = {}
        for t in result.types:
            state = self.store.type_state(source, t.entity_type)
            if state is not None:
                counts[t.entity_type] = state.count
        return counts

    def _publish(self, result: RunResult) -> None:
        dispatcher = self._dispatcher
        if all(s.durable for s in dispatcher.sinks):
            if result.published is not None:
                result.published.close()
            return
        batch = []
        for record in committed_records(self.store, result):
            batch.append(record)
            if len(batch) >= 500:
                dispatcher.publish(batch)
                batch = []
        if batch:
            dispatcher.publish(batch)

    def _wake_delivery(self) -> None:
        self._delivery_due.set()
        with contextlib.suppress(JobLookupError, RuntimeError):  # stopping: the final delivery takes over
            self._scheduler.modify_job("deliver", next_run_time=datetime.now(UTC))

    def _deliver(self) -> None:
        """The periodic job: deliver durable sinks' backlog (sinks in backoff wait their turn)."""
        while not self._halt.is_set():
            self._delivery_due.clear()
            with self._deliver_lock:
                if self._halt.is_set():
                    return
                try:
                    self._dispatcher.deliver_pending()
                    self.metrics.set_backlog(self._dispatcher.backlog())
                except BaselineError as exc:
                    log.warning("delivery_deferred", error=str(exc))
                    return
            if not self._delivery_due.is_set():
                return

    def _prune(self) -> None:
        """Drop notifications older than baseline.history_days that every durable sink has received."""
        before = datetime.now(UTC) - timedelta(days=self.config.baseline.history_days)
        with self._deliver_lock:
            try:
                durable = [self.store.cursor(s.name) for s in self._dispatcher.durable]
                keep_after = min((c.position for c in durable if c is not None), default=self.store.last_seq())
                if any(c is None for c in durable):
                    return
                removed = self.store.prune_history(before, keep_after)
            except BaselineError as exc:
                log.warning("prune_deferred", error=str(exc))
                return
        if removed:
            log.info("history_pruned", removed=removed, before=before.isoformat(), history_days=self.config.baseline.history_days)

    # -------------------------------------------------------------- health

    def _seed_freshness(self) -> None:
        now = datetime.now(UTC)
        self.health.set_sources({name: schedule_period(s, now) for name, s in self._sources.items()})
        for name in self._sources:
            try:
                runs = self.store.runs(name, limit=50)
            except BaselineError:
                return
            for run in runs:
                if run.status == "ok" and run.finished_at is not None:
                    self.health.record_ok(name, run.finished_at)
                    self.metrics.last_success.labels(name).set(run.finished_at.timestamp())
                    break
            if runs:
                self._note_missed_window(self._sources[name], runs[0].started_at, now)

    def _note_missed_window(self, source: SourceConfig, last_started: datetime, now: datetime) -> None:
        """F24: after downtime longer than a source's period, say which window was missed and run
        it once at start (coalesced: one catch-up run, whatever the number of missed runs)."""
        period = schedule_period(source, now)
        if last_started.tzinfo is None:
            last_started = last_started.replace(tzinfo=UTC)
        down = (now - last_started).total_seconds()
        if period <= 0 or down <= period:
            return
        self._overdue.add(source.name)
        log.warning("missed_window", source=source.name, last_run=last_started.isoformat(), down_s=round(down),
                    missed_runs=int(down // period), catch_up="one run now")

    def _health_report(self) -> tuple[int, bytes]:
        """Freshness (in a cluster: every node's runs, and the coordination backend), plus the sources
        backing off after rejected credentials (which fail the check)."""
        problem = None
        if self.cluster is not None:
            self._freshness_from_database()
            problem = self.cluster.snapshot().problem
        status, body = self.health.report(datetime.now(UTC), problem=problem)
        backing_off = self.backoff.backing_off()
        if not backing_off:
            return status, body
        report = orjson.loads(body)
        report["backoff"] = [b.as_dict() for b in backing_off]
        if report.get("status") == "ok":
            report["status"] = "backoff"
        return 503, orjson.dumps(report)

    def _live_report(self) -> tuple[int, bytes]:
        return live_report(self._scheduler.running and not self._halt.is_set(), self.cluster)

    # -------------------------------------------------------------- cluster

    def _start_cluster(self) -> None:
        from poller.service.cluster import Cluster

        self.cluster = Cluster(self.config.coordination, self._sources, self._durable_sinks(), on_change=self._on_cluster_change)
        self._dispatcher.may_deliver = self.cluster.may_deliver
        self.cluster.start()

    def _durable_sinks(self) -> list[str]:
        return [s.name for s in self._dispatcher.durable]

    def _on_cluster_change(self) -> None:
        """The cluster thread says the assignment changed: schedule exactly the owned sources."""
        snap = self.cluster.snapshot()
        self.metrics.set_cluster(snap.members, len(snap.owned), {s: s in snap.sinks for s in self._durable_sinks()})
        with self._lock:
            if self._stopping:
                return
            jobs = {j.id.removeprefix("source:") for j in self._scheduler.get_jobs() if j.id.startswith("source:")}
            for name in sorted(jobs - snap.owned):
                _quietly(self._scheduler.remove_job, _job_id(name))
            for name in sorted(snap.owned - jobs):
                source = self._sources.get(name)
                if source is not None:
                    self._scheduler.add_job(self._scheduled, build_trigger(source), args=(name,), id=_job_id(name), name=name,
                                            replace_existing=True, next_run_time=self._taken_over_at(source))
        if snap.sinks:
            self._wake_delivery()

    def _taken_over_at(self, source: SourceConfig) -> datetime | None:
        """When a source this node just got runs first: now if its last run (by any node) is a period
        old or it never ran, else when that run's period ends; cron sources keep their schedule."""
        now = datetime.now(UTC)
        try:
            runs = self.store.runs(source.name, limit=1)
        except BaselineError:
            return now
        if not runs:
            return now if source.run_at_start else None
        if source.cron:
            return None
        return max(now, runs[0].started_at + timedelta(seconds=source.interval or 300.0))

    def _freshness_from_database(self) -> None:
        """Last complete runs by any node (throttled): a source another node polls is not stale here."""
        if time.monotonic() - self._db_health_at < 2.0:
            return
        self._db_health_at = time.monotonic()
        for name in list(self._sources):
            try:
                runs = self.store.runs(name, limit=20)
            except BaselineError:
                return
            done = next((r for r in runs if r.status == "ok" and r.finished_at is not None), None)
            if done is not None:
                self.health.record_ok(name, done.finished_at)

    # -------------------------------------------------------------- reload

    def reload(self) -> bool:
        """Reload the config file: add, remove and reschedule sources; a bad config changes nothing."""
        try:
            new = load_config(self.config_path)
            _validate(new, self.config)
            dispatcher = None
            if new.notify != self.config.notify or _routes(new) != _routes(self.config):
                dispatcher = build_dispatcher(new, self.store, include_stdout=True)
                if self.cluster is not None:  # from its first delivery on, like the one it replaces
                    dispatcher.may_deliver = self.cluster.may_deliver
            changed = new.events != self.config.events or new.sources != self.config.sources
            restart_events = changed and (self.events is not None or bool(new.events))
            events = _event_service(new, self.store, self._on_refresh) if restart_events else None
        except (PollerError, CollectorError, BaselineError) as exc:
            self.metrics.reloads.labels("rejected").inc()
            log.error("config_rejected", path=self.config_path, error=str(exc), hint="the previous configuration keeps running")
            return False
        if dispatcher is not None:
            with self._deliver_lock:
                old, self._dispatcher = self._dispatcher, dispatcher
            old.close()
        self._apply(new)
        if restart_events:
            self._swap_events(events)
        self.metrics.reloads.labels("applied").inc()
        return True

    def _swap_events(self, events: Any) -> None:
        """Replace the embedded event intake (refreshes under way finish first)."""
        if self.events is not None:
            self.events.stop(self.config.service.stop_timeout)
        self.events = events
        if events is not None:
            try:
                events.start()
            except PollerError as exc:
                self.events = None
                log.error("events_not_restarted", error=str(exc), hint="fix the events section and send SIGHUP again")

    def _apply(self, new: Config) -> None:
        old_sources = self._sources
        wanted = {s.name: s for s in new.sources if s.enabled}
        self.config, self._settings = new, settings_for(new)
        self._sources = wanted
        grace = _grace(new)
        added, removed, rescheduled = sorted(set(wanted) - set(old_sources)), sorted(set(old_sources) - set(wanted)), []
        for name in removed:
            _quietly(self._scheduler.remove_job, _job_id(name))
        for name, source in wanted.items():
            if name in added:
                if self.cluster is None:  # a cluster node schedules it once the ring gives it to this node
                    self._add_job(source, first_run=source.run_at_start)
            elif _schedule_key(source) != _schedule_key(old_sources[name]):
                with contextlib.suppress(JobLookupError):  # a cluster node has only its own sources' jobs
                    self._scheduler.reschedule_job(_job_id(name), trigger=build_trigger(source))
                rescheduled.append(name)
            with contextlib.suppress(JobLookupError):
                self._scheduler.modify_job(_job_id(name), misfire_grace_time=grace)
        if self.cluster is not None:
            self._dispatcher.may_deliver = self.cluster.may_deliver
            self.cluster.set_sources(wanted, self._durable_sinks())
            self._on_cluster_change()
        now = datetime.now(UTC)
        self.health.set_sources({name: schedule_period(s, now) for name, s in wanted.items()})
        self.backoff.forget(set(wanted))
        log.info("config_reloaded", path=self.config_path, added=added, removed=removed, rescheduled=rescheduled,
                 sources=sorted(wanted))


def live_report(scheduling: bool, cluster: Any) -> tuple[int, bytes]:
    """The /livez answer: 200 while the process runs its scheduler, whatever the clouds or the backend say."""
    import orjson

    body: dict[str, Any] = {"status": "alive" if scheduling else "stopped"}
    if cluster is not None:
        snap = cluster.snapshot()
        body.update(member=cluster.member_id, joined=snap.joined, owned_sources=len(snap.owned))
    return (200 if scheduling else 503), orjson.dumps(body)


def _event_service(config: Config, store: Store, on_commit: Any) -> Any:
    """The push-event intake of ``config.events`` (validated, not started), or None when none is configured."""
    if not config.events:
        return None
    from poller.events import EventService

    events = EventService(config, store, None, on_commit=on_commit)
    return events if events.enabled else None


def _job_id(name: str) -> str:
    return f"source:{name}"


def _grace(config: Config) -> int:
    return max(1, int(config.service.misfire_grace))


def _schedule_key(source: SourceConfig) -> tuple[Any, ...]:
    return (source.interval, source.cron, source.jitter)


def _routes(config: Config) -> Mapping[str, Any]:
    return {s.name: s.notify for s in config.sources}


def _quietly(func: Any, *args: Any) -> None:
    with contextlib.suppress(JobLookupError):
        func(*args)


def check_config(config: Config) -> None:
    """Build every enabled source's collector and every sink (no I/O): the first bad option raises."""
    from poller.notify.registry import build_sink

    try:
        for source in config.sources:
            if source.enabled:
                build_collector(source).close()
        for sink in config.notify.sinks:
            build_sink(sink).close()
    except (CollectorError, SinkError) as exc:
        raise ConfigError(f"{config.path}: {exc}") from None


def _validate(new: Config, old: Config) -> None:
    """Everything a reload can check without I/O: collectors' options, sinks, and what needs a restart."""
    if new.baseline.url != old.baseline.url:
        raise ConfigError(f"{new.path}: baseline.url changed; restart the service to use another database")
    check_config(new)
    if new.coordination != old.coordination:
        log.warning("reload_needs_restart", setting="coordination", hint="kept at its running value until a restart")
    for name in ("workers", "metrics_port", "metrics_host"):
        if getattr(new.service, name) != getattr(old.service, name):
            log.warning("reload_needs_restart", setting=f"service.{name}", hint="kept at its running value until a restart")


def run_service(config_path: str) -> int:
    """``poller run``: open the store, start the service, serve until SIGTERM/SIGINT; returns the exit code."""
    config = load_config(config_path)
    check_config(config)
    store = open_config_store(config)
    try:
        service = Service(config_path, config, store)
        service.install_signal_handlers()
        if not log_debug_enabled():
            logging.getLogger("apscheduler").setLevel(logging.ERROR)  # our own events say what it would
        service.start()
        service.notifier.ready(f"polling {len(service._sources)} sources")
        return service.serve()
    finally:
        store.close()


def log_debug_enabled() -> bool:
    """True when -v put the stdlib loggers at debug level."""
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG
