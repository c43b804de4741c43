"""The event worker: turns accepted events into debounced, verified refreshes.

Owns the bounded set of (source, entity type, key) targets waiting for a fetch, the
per-entity debounce window, the retries when a snapshot holds the source's lease, and
handing committed notifications on. An event is a hint, never the truth: it only ever
names what to re-read; what changed is decided by ``poller.refresh.refresh`` against the
API's answer. Never parses HTTP or AMQP and never writes baseline rows itself.

Debounce (per target, window ``events.debounce``): the first event for an idle entity is
fetched at once (no added latency); events arriving within the window after a fetch
*started* are coalesced into one more fetch when the window ends. So every event is
followed by a fetch that starts after it arrived (nothing is lost), and a burst of any
size costs at most 1 + (burst length / window) fetches per entity.

Concurrency: at most one refresh per source runs at a time in this process (targets of a
source that is being refreshed wait for it), and each refresh takes the source's database
lease, so it never interleaves with a snapshot in another process; "busy" is retried.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import structlog

from baseline.errors import BaselineError
from baseline.store import Store
from collectors.base import Collector
from collectors.errors import CollectorError
from poller.config import Config, SourceConfig
from poller.errors import PollerError
from poller.events.config import EventsConfig
from poller.events.stats import Stats
from poller.notify.dispatch import Dispatcher, to_record
from poller.run.refresh import refresh
from poller.run.snapshot import build_collector, settings_for
from poller.run.source import RunResult, RunSettings

log = structlog.get_logger("poller.events")

MAX_BATCH = 200  # targets of one source refreshed in one transaction
MAX_BACKOFF = 30.0


class EventsError(PollerError):
    """Root of the event path's own errors."""


class QueueFull(EventsError):
    """The queue of targets waiting for a fetch is full; ``retry_after`` is a hint in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the event queue is full")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Accepted:
    """What became of the events of one submission."""

    events: int
    targets: int = 0
    unknown: int = 0
    dropped: bool = False


@dataclass
class _Target:
    source: str
    etype: str
    key: str
    pending: bool = False
    in_flight: bool = False
    last_started: float = -math.inf
    attempts: int = 0
    token: int = 0


@dataclass
class _Source:
    config: SourceConfig
    collector: Collector | None
    drop_reason: str | None
    settings: RunSettings
    types: frozenset[str] | None  # None: any type (dynamic collectors)
    busy: bool = False
    waiting: list[_Target] = field(default_factory=list)


Committed = Callable[[RunResult], None]


class EventProcessor:
    """Accepts events for configured sources and refreshes what they name, in worker threads.

    ``submit`` is called by the intakes (any thread); ``start``/``stop`` run the workers.
    ``on_commit`` is called (in a worker) with each committed refresh that produced
    notifications; by default they go to ``dispatcher`` (non-durable sinks at once, then
    the durable sinks' backlog).
    """

    def __init__(
        self, config: Config, events: EventsConfig, store: Store, dispatcher: Dispatcher | None, *,
        stats: Stats | None = None, on_commit: Committed | None = None,
        clock: Callable[[], float] = time.monotonic, collectors: Mapping[str, Collector] | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.store = store
        self.dispatcher = dispatcher
        self.stats = stats or Stats()
        self.on_commit = on_commit or self._dispatch
        self.clock = clock
        self.dispatch_lock = threading.Lock()
        self._cond = threading.Condition()
        self._targets: dict[tuple[str, str, str], _Target] = {}
        self._heap: list[tuple[float, int, _Target, int]] = []
        self._seq = itertools.count()
        self._pending = 0
        self._running = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._sources = {name: self._source(name, collectors or {}) for name in events.sources}

    # -- setup -------------------------------------------------------------------------------

    def _source(self, name: str, given: Mapping[str, Collector]) -> _Source:
        source = self.config.source(name)
        base = settings_for(self.config)
        settings = replace(base, timeout=source.timeout)
        if not source.enabled:
            return _Source(source, None, "disabled", settings, frozenset())
        if source.collector == "noop":
            return _Source(source, None, "noop", settings, frozenset())
        collector = given.get(name) or build_collector(source)
        declared = None if collector.dynamic_types else {t.name for t in collector.entity_types}
        if source.entity_types is not None:
            declared = set(source.entity_types) if declared is None else declared & set(source.entity_types)
        return _Source(source, collector, None, settings, None if declared is None else frozenset(declared))

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources this processor accepts events for."""
        return tuple(self._sources)

    def drop_reason(self, source: str) -> str | None:
        """Why events of ``source`` are dropped (``noop``, ``disabled``), or None."""
        return self._sources[source].drop_reason

    # -- intake ------------------------------------------------------------------------------

    def submit(self, source: str, events: Sequence[Mapping[str, Any]]) -> Accepted:
        """Translate ``events`` of ``source`` and queue what they name; QueueFull when there is no room.

        Either every target of the submission is queued or none is (QueueFull).
        """
        src = self._sources[source]
        if src.collector is None:
            self.stats.add("dropped", source, len(events))
            log.debug("events_dropped", source=source, reason=src.drop_reason, events=len(events))
            return Accepted(len(events), dropped=True)
        pairs: list[tuple[str, str]] = []
        unknown = 0
        for event in events:
            named = self._translate(src, event)
            unknown += not named
            pairs.extend(named)
        distinct = list(dict.fromkeys(pairs))
        self._enqueue(source, distinct)
        self.stats.add("received", source, len(events))
        self.stats.add("unknown", source, unknown)
        self.stats.add("coalesced", source, len(pairs) - len(distinct))
        return Accepted(len(events), targets=len(distinct), unknown=unknown)

    def _translate(self, src: _Source, event: Mapping[str, Any]) -> list[tuple[str, str]]:
        assert src.collector is not None
        try:
            named = cast("Sequence[Any]", src.collector.translate_event(event))
        except Exception as exc:  # a plugin bug must not take the intake down
            log.warning("event_translation_failed", source=src.config.name, error=type(exc).__name__)
            return []
        out = []
        for pair in named or ():
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair)):
                continue
            if src.types is None or pair[0] in src.types:
                out.append(pair)
        return out

    def _enqueue(self, source: str, pairs: list[tuple[str, str]]) -> None:
        with self._cond:
            fresh = [p for p in pairs if not self._is_pending(source, p)]
            if self._pending + len(fresh) > self.events.queue_size:
                self.stats.add("rejected_full", source)
                raise QueueFull(retry_after=max(1.0, self.events.debounce))
            now = self.clock()
            for etype, key in pairs:
                target = self._targets.get((source, etype, key))
                if target is None:
                    target = self._targets[(source, etype, key)] = _Target(source, etype, key)
                if target.pending:
                    self.stats.add("coalesced", source)
                    continue
                target.pending, target.attempts = True, 0
                self._pending += 1
                if not target.in_flight:
                    self._schedule(target, max(now, target.last_started + self.events.debounce))
            self._cond.notify_all()

    def _is_pending(self, source: str, pair: tuple[str, str]) -> bool:
        target = self._targets.get((source, *pair))
        return target is not None and target.pending

    def _schedule(self, target: _Target, due: float) -> None:
        target.token += 1
        heapq.heappush(self._heap, (due, next(self._seq), target, target.token))

    @property
    def backlog(self) -> int:
        """Targets waiting for a fetch (not counting those being fetched)."""
        with self._cond:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or being fetched; False on timeout (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    # -- workers -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start ``events.workers`` worker threads."""
        with self._cond:
            self._stopping = False
        for n in range(self.events.workers):
            thread = threading.Thread(target=self._work, name=f"events-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers (a refresh under way finishes) and close the collectors."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        if self._pending:
            log.info("events_unprocessed_at_stop", targets=self._pending)
        for src in self._sources.values():
            if src.collector is not None:
                try:
                    src.collector.close()
                except Exception:  # closing a client must not hide the stop
                    log.warning("collector_close_failed", source=src.config.name)

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            src, targets = batch
            outcome = self._refresh(src, targets)
            self._finish(src, targets, outcome)

    def _next_batch(self) -> tuple[_Source, list[_Target]] | None:
        with self._cond:
            while not self._stopping:
                now = self.clock()
                while self._heap and self._heap[0][0] <= now:
                    _due, _seq, target, token = heapq.heappop(self._heap)
                    if token != target.token or target.in_flight:
                        continue
                    if not target.pending:
                        self._forget(target, now)
                        continue
                    src = self._sources[target.source]
                    if src.busy:
                        src.waiting.append(target)
                        continue
                    return src, self._take(src, target, now)
                wait = self._heap[0][0] - now if self._heap else None
                self._cond.wait(wait if wait is None else max(0.001, wait))
            return None

    def _take(self, src: _Source, first: _Target, now: float) -> list[_Target]:
        """Mark ``first`` and every other due target of its source as in flight (up to MAX_BATCH)."""
        batch = [first]
        keep = []
        while self._heap and self._heap[0][0] <= now and len(batch) < MAX_BATCH:
            item = heapq.heappop(self._heap)
            target = item[2]
            if item[3] == target.token and target.pending and not target.in_flight and target.source == first.source:
                batch.append(target)
            else:
                keep.append(item)
        for item in keep:
            heapq.heappush(self._heap, item)
        src.busy = True
        self._running += 1
        for target in batch:
            target.in_flight, target.pending, target.last_started = True, False, now
            target.token += 1
        self._pending -= len(batch)
        return batch

    def _forget(self, target: _Target, now: float) -> None:
        if now >= target.last_started + self.events.debounce:
            self._targets.pop((target.source, target.etype, target.key), None)

    def _refresh(self, src: _Source, targets: list[_Target]) -> RunResult | None:
        assert src.collector is not None
        pairs = [(t.etype, t.key) for t in targets]
        try:
            self.stats.add("fetched", src.config.name, len(pairs))
            result = refresh(src.config, src.collector, self.store, src.settings, pairs)
        except Exception as exc:  # a broken store or a bug: retried, never kills the worker
            detail = str(exc) if isinstance(exc, PollerError | BaselineError | CollectorError) else None
            log.error("event_refresh_failed", source=src.config.name, error=type(exc).__name__, detail=detail)
            return None
        if result.status == "busy":
            self.stats.add("busy", src.config.name)
            return result
        if result.run_id is not None and result.changes:
            self.stats.add("refreshes", src.config.name)
            self.stats.add("notifications", src.config.name, result.changes)
            try:
                self.on_commit(result)
            except Exception as exc:  # the notifications are in the outbox; a sink problem must not lose the worker
                log.error("event_dispatch_failed", source=src.config.name, error=type(exc).__name__)
        elif result.run_id is not None:
            self.stats.add("refreshes", src.config.name)
        return result

    def _finish(self, src: _Source, targets: list[_Target], outcome: RunResult | None) -> None:
        failed_types = _failed_types(outcome, targets)
        with self._cond:
            now = self.clock()
            src.busy = False
            self._running -= 1
            for target in targets:
                target.in_flight = False
                if outcome is not None and outcome.status == "busy":
                    self._retry(target, now, busy=True)
                elif target.etype in failed_types:
                    self._retry(target, now, busy=False)
                else:
                    target.attempts = 0
                    self._schedule(target, target.last_started + self.events.debounce)
            for target in src.waiting:
                self._schedule(target, now)
            src.waiting.clear()
            self._cond.notify_all()

    def _retry(self, target: _Target, now: float, *, busy: bool) -> None:
        """Put a target back after a busy or failed refresh (with backoff); give up after max_retries failures."""
        target.attempts += 1
        if not busy and target.attempts > self.events.max_retries and not target.pending:
            self.stats.add("abandoned", target.source)
            log.warning("event_target_abandoned", source=target.source, entity_type=target.etype, key=target.key,
                        attempts=target.attempts)
            self._schedule(target, target.last_started + self.events.debounce)
            return
        if not busy:
            self.stats.add("failed", target.source)
        if not target.pending:
            target.pending = True
            self._pending += 1
        delay = min(MAX_BACKOFF, self.events.busy_retry * 2 ** min(target.attempts - 1, 16))
        self._schedule(target, max(now + delay, target.last_started + self.events.debounce))

    # -- handing on --------------------------------------------------------------------------

    def _dispatch(self, result: RunResult) -> None:
        """Default ``on_commit``: the run's notifications to the dispatcher, then the durable backlog."""
        if self.dispatcher is None or result.run_id is None:
            return
        records = [to_record(row) for row in self.store.history(run_id=result.run_id)]
        with self.dispatch_lock:
            for start in range(0, len(records), 500):
                self.dispatcher.publish(records[start : start + 500])
            self.dispatcher.deliver_pending()

    def deliver_pending(self) -> None:
        """Retry the durable sinks' backlog (for a service without its own delivery loop)."""
        if self.dispatcher is not None:
            with self.dispatch_lock:
                self.dispatcher.deliver_pending()


def _failed_types(outcome: RunResult | None, targets: list[_Target]) -> set[str]:
    """The entity types whose fetch did not complete (every type when the refresh failed outright)."""
    if outcome is None or outcome.status in ("failed", "lease_lost"):
        return {t.etype for t in targets}
    if outcome.status == "busy":
        return set()
    incomplete = {t.entity_type for t in outcome.types if t.status == "incomplete"}
    if outcome.status == "partial" and not incomplete and not outcome.held:
        return {t.etype for t in targets}  # abandoned (timeout, lease lost before commit): nothing was committed
    return incomplete
