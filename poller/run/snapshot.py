"""One-shot polling: run the chosen sources once, then hand the notifications on.

Owns the glue between config, collectors, the store and the dispatcher for
``poller snapshot`` (the service reuses ``run_one``). Never renders output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from baseline.codec import decompress_many
from baseline.diff import DeletionPolicy
from baseline.store import Store, open_store
from collectors.base import Collector
from collectors.errors import CollectorError
from poller import plugins
from poller.config import Config, SourceConfig
from poller.errors import ConfigError, ConfigProblems
from poller.notify.base import OutboxRecord
from poller.notify.dispatch import Dispatcher
from poller.notify.registry import build_sink
from poller.progress import Progress
from poller.run.source import RunResult, RunSettings, run_source

log = structlog.get_logger("poller.snapshot")


def build_collector(source: SourceConfig) -> Collector:
    """The source's collector, constructed (options validated, no network I/O)."""
    if source.options_error:
        raise ConfigError(source.options_error)  # an unset ${ENV}: demanded only now, when the source is to run
    cls = plugins.load(source.collector)
    collector = cls(source.name, source.options)
    if source.entity_types is not None and not collector.dynamic_types:
        offered = {t.name for t in collector.entity_types}
        for name in source.entity_types:
            if name not in offered:
                raise ConfigError(
                    f"sources.{source.name}.entity_types: collector {source.collector} has no type {name!r} "
                    f"(see `poller collectors`)"
                )
    return collector


def check_sources(config: Config, sources: Sequence[SourceConfig]) -> None:
    """Build (and close) each source's collector before any runs: every bad option, unknown
    collector or unset secret raises together as ConfigProblems (exit 2), naming the key."""
    problems: list[ConfigError] = []
    for source in sources:
        try:
            build_collector(source).close()
        except (CollectorError, ConfigError) as exc:
            text = str(exc)
            problems.append(ConfigError(text if text.startswith(f"{config.path}:") else f"{config.path}: {text}"))
    if problems:
        raise ConfigProblems(problems)


def settings_for(
    config: Config, *, dry_run: bool = False, allow_mass_delete: bool = False,
    emit: Callable[[bytes], None] | None = None, timeout: float | None = None,
) -> RunSettings:
    """RunSettings from the config and command-line switches."""
    d = config.deletion
    return RunSettings(
        deletion=DeletionPolicy(d.min_misses, d.max_fraction, d.min_count, allow_mass_delete),
        store_payloads=config.baseline.store_payloads,
        initial_load=config.notify.initial_load,
        max_notification_bytes=config.notify.max_notification_bytes,
        dry_run=dry_run,
        emit=emit,
        timeout=timeout,
        confirm_max=d.confirm_max,
        lease_ttl=config.service.lease_ttl,
        hash_workers=config.service.hash_workers,
    )


def open_config_store(config: Config, *, readonly: bool = False) -> Store:
    """The baseline store the config names (the embedded SQLite default otherwise);
    ``readonly`` for reporting commands (no write lock, no migration)."""
    b = config.baseline
    return open_store(b.url, readonly=readonly, lock_timeout=b.lock_timeout, statement_timeout=b.statement_timeout)


def build_dispatcher(config: Config, store: Store, *, include_stdout: bool = True) -> Dispatcher:
    """A dispatcher over the configured sinks (stdout sinks only when asked)."""
    sinks = [build_sink(s) for s in config.notify.sinks if include_stdout or s.type != "stdout"]
    routes = {s.name: s.notify for s in config.sources if s.notify is not None}
    # A sink still delivering after service.stop_timeout goes on in the background; closing waits no longer.
    timeout = config.service.stop_timeout
    dispatcher = Dispatcher(store, sinks, routes, stop_timeout=timeout, flush_timeout=timeout)  # type: ignore[arg-type]
    dispatcher.register_cursors()
    return dispatcher


def run_one(source: SourceConfig, store: Store, settings: RunSettings) -> RunResult:
    """Build the source's collector and run it once; construction errors fail the run."""
    started = settings.clock()
    try:
        collector = build_collector(source)
    except (CollectorError, ConfigError) as exc:
        log.error("collector_unusable", source=source.name, error=str(exc))
        return RunResult(source.name, "failed", started, finished_at=settings.clock(), error=str(exc))
    try:
        return run_source(source, collector, store, settings)
    finally:
        try:
            collector.close()
        except Exception:  # closing a client must not hide the run's outcome
            log.warning("collector_close_failed", source=source.name)


@dataclass
class SnapshotOutcome:
    """The results of a one-shot snapshot, source by source."""

    results: list[RunResult]
    # Notifications each durable sink refused for good (parked) during the snapshot.
    parked: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when any source failed, was partial or was busy, or a durable sink parked notifications."""
        return any(r.status != "ok" for r in self.results) or bool(self.parked)

    @property
    def changes(self) -> int:
        """Total notifications across sources."""
        return sum(r.changes for r in self.results)


def select_sources(config: Config, names: Sequence[str]) -> list[SourceConfig]:
    """The sources to run: the named ones (even if disabled), else every enabled one."""
    if names:
        return [config.source(n) for n in names]
    return [s for s in config.sources if s.enabled]


def snapshot(
    config: Config, store: Store, names: Sequence[str] = (), *, dry_run: bool = False,
    allow_mass_delete: bool = False, emit: Callable[[bytes], None] | None = None,
    on_result: Callable[[RunResult], None] | None = None, dispatcher: Dispatcher | None = None,
    progress: Progress | None = None,
) -> SnapshotOutcome:
    """Run the chosen sources once; real runs pass their notifications to ``emit`` after commit
    and then to the sinks (``dispatcher``'s, kept open, else the configured ones)."""
    sources = select_sources(config, names)
    check_sources(config, sources)
    own_dispatcher = dispatcher is None and not dry_run
    if own_dispatcher:
        dispatcher = build_dispatcher(config, store, include_stdout=False)
    elif dry_run:
        dispatcher = None
    settings = replace(settings_for(config, dry_run=dry_run, allow_mass_delete=allow_mass_delete, emit=emit), progress=progress)
    results = []
    parked: dict[str, int] = {}
    parked_before = {} if dispatcher is None else dispatcher.parked()
    try:
        if dispatcher is not None:
            dispatcher.deliver_pending(force=True)  # leftovers of earlier runs first, in order
        for source in sources:
            paused = None if dispatcher is None else backlog_pause(config, dispatcher, source)
            result = paused or run_one(source, store, RunSettings(**{**settings.__dict__, "timeout": source.timeout}))
            results.append(result)
            if not dry_run and result.run_id is not None and result.changes:
                if progress is not None:
                    progress.phase(source.name, "delivering", total=result.changes)
                _hand_on(store, result, emit, dispatcher, progress)
            if on_result is not None:
                on_result(result)
        if dispatcher is not None:
            if progress is not None and any(dispatcher.backlog().values()):
                progress.phase("sinks", "delivering", total=sum(dispatcher.backlog().values()))
            dispatcher.deliver_pending(force=True)
            if progress is not None:
                progress.clear()
            for name, waiting in dispatcher.backlog().items():
                if waiting:
                    log.warning("notifications_waiting", sink=name, backlog=waiting,
                                error=dispatcher.state[name].last_error)
            prune_history(config, store, dispatcher)
            parked = {name: n - parked_before.get(name, 0) for name, n in dispatcher.parked().items()
                      if n > parked_before.get(name, 0)}
            for name, count in parked.items():
                log.error("notifications_parked", sink=name, parked=count, error=dispatcher.state[name].last_parked)
    finally:
        if own_dispatcher and dispatcher is not None:
            dispatcher.close()
    return SnapshotOutcome(results, parked)


def backlog_pause(config: Config, dispatcher: Dispatcher, source: SourceConfig) -> RunResult | None:
    """A "paused" result when a sink this source feeds holds more than notify.max_backlog
    undelivered notifications: polling stops before anything is lost, loudly."""
    limit = config.notify.max_backlog
    if limit is None:
        return None
    for sink, waiting in dispatcher.backlog().items():
        if waiting > limit and dispatcher.routed(next(s for s in dispatcher.durable if s.name == sink), source.name):
            now = now_utc()
            error = (f"polling of {source.name} paused: sink {sink} has {waiting} undelivered notifications "
                     f"(notify.max_backlog is {limit}); last error: {dispatcher.state[sink].last_error or 'none'}")
            log.error("polling_paused", source=source.name, sink=sink, backlog=waiting, limit=limit)
            return RunResult(source.name, "paused", now, finished_at=now, error=error)
    return None


def prune_history(config: Config, store: Store, dispatcher: Dispatcher) -> int:
    """Drop notifications older than the retention that every durable sink has handled."""
    days = config.notify.retention_days if config.notify.retention_days is not None else config.baseline.history_days
    positions = [c.position for c in store.cursors() if c.sink in {s.name for s in dispatcher.durable}]
    keep_after = min(positions) if positions else store.last_seq()
    from datetime import timedelta

    pruned = store.prune_history(now_utc() - timedelta(days=days), keep_after)
    if pruned:
        log.info("history_pruned", rows=pruned, older_than_days=days)
    return pruned


def committed_records(store: Store, result: RunResult) -> Iterator[OutboxRecord]:
    """The run's committed notifications: from its spool, else read back from the outbox."""
    if result.published is not None:
        try:
            batch: list[tuple[Any, ...]] = []
            for item in result.published.items():
                batch.append(item)
                if len(batch) >= 1000:
                    yield from _published(batch)
                    batch = []
            yield from _published(batch)
        finally:
            result.published.close()
            result.published = None
        return
    for seq, nid, source, entity_type, action, body in store.run_notifications(result.run_id):
        yield OutboxRecord(seq, source, entity_type, action, nid, body)


def _published(items: list[tuple[Any, ...]]) -> Iterator[OutboxRecord]:
    """Published spool items as records, the bodies the render pool compressed decompressed in one call."""
    packed = [i for i, item in enumerate(items) if item[5]]
    bodies = dict(zip(packed, decompress_many([items[i][4] for i in packed]), strict=True))
    for i, (nid, source, entity_type, action, body, _compressed) in enumerate(items):
        yield OutboxRecord(0, source, entity_type, action, nid, bodies.get(i, body))


def _hand_on(
    store: Store, result: RunResult, emit: Callable[[bytes], None] | None, dispatcher: Dispatcher | None,
    progress: Progress | None = None,
) -> None:
    """Stream a committed run's notifications to ``emit`` and the non-durable sinks."""
    batch = []
    done = 0
    for record in committed_records(store, result):
        if emit is not None:
            emit(record.body)
        batch.append(record)
        if len(batch) >= 500:
            if dispatcher is not None:
                dispatcher.publish(batch)
            done += len(batch)
            if progress is not None:
                progress.count(result.source, "", done)
            batch = []
    if batch and dispatcher is not None:
        dispatcher.publish(batch)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
