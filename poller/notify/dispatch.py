"""The dispatcher: moves notifications from the outbox to the sinks.

Durable sinks get every notification at least once and in outbox order (so in order
per source), from a cursor kept in the database, each on its own delivery thread: a
sink that is slow, hangs or is down keeps its backlog in the outbox and is retried
with exponential backoff and jitter, and never holds up another sink. Non-durable
sinks (stdout, callbacks) get what is published while they run. Never writes
baseline rows.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from baseline.errors import BaselineError
from baseline.store import OutboxRow, Store
from poller.errors import DeliveryError
from poller.notify.base import OutboxRecord, Sink

log = structlog.get_logger("poller.notify")


@dataclass
class SinkState:
    """What the dispatcher knows about one sink between attempts."""

    failures: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None
    delivered: int = 0
    parked: int = 0
    last_parked: str | None = None  # why the sink last refused a notification for good


def to_record(row: OutboxRow) -> OutboxRecord:
    """The sink-facing view of a stored notification."""
    return OutboxRecord(row.seq, row.source, row.entity_type, row.action, row.id, row.body)


class Dispatcher:
    """Feeds sinks from the outbox; ``routes`` maps a source to the sink names it may use.

    ``stop_timeout`` bounds how long ``close`` waits for a sink still delivering,
    ``flush_timeout`` (None: no bound) how long a waiting ``deliver_pending`` waits.
    """

    def __init__(
        self, store: Store, sinks: Sequence[Sink], routes: Mapping[str, Iterable[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC), max_backoff: float = 300.0,
        stop_timeout: float = 10.0, flush_timeout: float | None = None,
        may_deliver: Callable[[str], bool] = lambda sink: True,
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.routes = {src: set(names) for src, names in (routes or {}).items()}
        self.clock = clock
        self.max_backoff = max_backoff
        self.state = {s.name: SinkState() for s in self.sinks}
        self.stop_timeout = stop_timeout
        self.flush_timeout = flush_timeout
        self._closing = threading.Event()
        self._workers: dict[str, _SinkWorker] = {}
        self._workers_lock = threading.Lock()
        self.may_deliver = may_deliver  # a cluster node delivers a durable sink only while it holds the sink's lock

    def add_sink(self, sink: Sink) -> None:
        """Feed one more sink from now on (a durable one starts at the outbox's end)."""
        self.sinks.append(sink)
        self.state[sink.name] = SinkState()
        if sink.durable:
            self.register_cursors()

    @property
    def durable(self) -> list[Sink]:
        """The sinks that keep a cursor."""
        return [s for s in self.sinks if s.durable]

    def register_cursors(self) -> None:
        """Give each new durable sink a cursor at the outbox's end: it receives what comes next."""
        last = None
        for sink in self.durable:
            if self.store.cursor(sink.name) is None:
                last = self.store.last_seq() if last is None else last
                self.store.set_cursor(sink.name, last, self.clock())

    def routed(self, sink: Sink, source: str) -> bool:
        """True when notifications of ``source`` go to ``sink``."""
        names = self.routes.get(source)
        return names is None or sink.name in names

    def publish(self, records: Sequence[OutboxRecord]) -> None:
        """Hand freshly committed notifications to the non-durable sinks."""
        for sink in self.sinks:
            if sink.durable:
                continue
            batch = [r for r in records if self.routed(sink, r.source)]
            if not batch:
                continue
            try:
                sink.deliver(batch)
            except DeliveryError as exc:
                log.warning("sink_delivery_failed", sink=sink.name, error=str(exc))

    def deliver_pending(self, *, force: bool = False, wait: bool | None = None, batch_size: int = 500) -> int:
        """Wake every durable sink's delivery thread to deliver its backlog.

        ``force`` ignores the backoff of sinks that failed. ``wait`` (default: ``force``)
        blocks until every sink finished that pass (at most ``flush_timeout``; a sink still
        delivering then goes on in the background) and returns how many notifications were
        delivered; without it the call returns 0 at once and each sink delivers on its own
        thread, so a slow sink never delays the caller or another sink.
        """
        wait = force if wait is None else wait
        tickets = []
        for sink in self.durable:
            worker = self._worker(sink, batch_size)
            tickets.append((worker, worker.ask(force)))
        if not wait:
            return 0
        deadline = None if self.flush_timeout is None else time.monotonic() + self.flush_timeout
        return sum(worker.result(ticket, deadline) for worker, ticket in tickets)

    def _worker(self, sink: Sink, batch_size: int) -> _SinkWorker:
        with self._workers_lock:
            worker = self._workers.get(sink.name)
            if worker is None:
                size = getattr(sink, "batch_size", batch_size) or batch_size
                worker = self._workers[sink.name] = _SinkWorker(self, sink, size)
            return worker

    def _pass(self, sink: Sink, size: int, force: bool) -> int:
        """One delivery pass of one sink, on its own thread: its backlog if it is due."""
        state = self.state[sink.name]
        if not self.may_deliver(sink.name) or (not force and time.monotonic() < state.next_attempt):
            return 0
        return self._drain(sink, state, size)

    def parked(self) -> dict[str, int]:
        """Notifications each durable sink parked (refused for good) through this dispatcher."""
        return {name: state.parked for name, state in self.state.items() if state.parked}

    def backlog(self) -> dict[str, int]:
        """Notifications waiting per durable sink."""
        last = self.store.last_seq()
        out = {}
        for sink in self.durable:
            cursor = self.store.cursor(sink.name)
            out[sink.name] = max(0, last - (cursor.position if cursor else last))
        return out

    def _drain(self, sink: Sink, state: SinkState, batch_size: int) -> int:
        delivered = 0
        try:
            cursor = self.store.cursor(sink.name)
            position = cursor.position if cursor else 0
            while not self._closing.is_set() and self.may_deliver(sink.name):  # closing, or the sink's lock lost
                rows = list(self.store.history(after_seq=position, limit=batch_size))
                if not rows:
                    break
                batch = [to_record(r) for r in rows if self.routed(sink, r.source)]
                end = rows[-1].seq
                try:
                    if batch:
                        sink.deliver(batch)
                except DeliveryError as exc:
                    done = batch[: exc.delivered]
                    position = done[-1].seq if done else position
                    delivered += len(done)
                    if exc.retryable:
                        self._failed(sink, state, position, str(exc))
                        return delivered
                    refused = batch[exc.delivered]
                    log.error("notification_parked", sink=sink.name, seq=refused.seq, id=refused.id, error=str(exc))
                    state.parked += 1
                    state.last_parked = str(exc)
                    self.store.set_cursor(sink.name, refused.seq, self.clock(), error=str(exc), parked=[(refused.seq, str(exc))])
                    position = refused.seq
                    continue
                delivered += len(batch)
                position = end
                self.store.set_cursor(sink.name, position, self.clock())
            if state.failures:
                log.info("sink_recovered", sink=sink.name, after_failures=state.failures)
            state.failures, state.next_attempt, state.last_error = 0, 0.0, None
        except BaselineError as exc:
            log.error("dispatch_store_failed", sink=sink.name, error=str(exc))
        state.delivered += delivered
        return delivered

    def _failed(self, sink: Sink, state: SinkState, position: int, error: str) -> None:
        state.failures += 1
        delay = min(self.max_backoff, 2 ** min(state.failures, 16)) * random.uniform(0.5, 1.0)
        state.next_attempt = time.monotonic() + delay
        state.last_error = error
        log.warning("sink_unavailable", sink=sink.name, error=error, retry_in_s=round(delay, 1), failures=state.failures)
        try:
            self.store.set_cursor(sink.name, position, self.clock(), error=error, failures=state.failures)
        except BaselineError:
            log.warning("cursor_update_failed", sink=sink.name)

    def close(self) -> None:
        """Stop the delivery threads (waiting at most ``stop_timeout`` in all), then close the sinks.

        A sink still inside a delivery then is left to its thread, not closed under it: its
        cursor has not moved, so what it was sending is sent again next time (same ids).
        """
        self._closing.set()
        with self._workers_lock:
            workers, self._workers = dict(self._workers), {}
        deadline = time.monotonic() + self.stop_timeout
        for worker in workers.values():
            worker.stop()
        busy = set()
        for name, worker in workers.items():
            if not worker.join(max(0.0, deadline - time.monotonic())):
                busy.add(name)
                log.warning("sink_still_delivering", sink=name, stop_timeout_s=self.stop_timeout,
                            hint="its cursor did not move; the batch is sent again next time")
        for sink in self.sinks:
            if sink.name in busy:
                continue
            try:
                sink.close()
            except Exception:  # closing must never mask the real outcome
                log.warning("sink_close_failed", sink=sink.name)


class _SinkWorker:
    """One durable sink's delivery thread: a pass per request, requests made meanwhile coalesced."""

    def __init__(self, dispatcher: Dispatcher, sink: Sink, batch_size: int) -> None:
        self.dispatcher, self.sink, self.batch_size = dispatcher, sink, batch_size
        self._cond = threading.Condition()
        self._asked = self._done = 0
        self._force = self._stopping = False
        self._results: dict[int, int] = {}  # first ticket a pass served -> notifications it delivered
        self._thread = threading.Thread(target=self._loop, name=f"deliver-{sink.name}", daemon=True)
        self._thread.start()

    def ask(self, force: bool) -> int:
        """Request a pass; returns its ticket."""
        with self._cond:
            self._asked += 1
            self._force = self._force or force
            self._cond.notify_all()
            return self._asked

    def result(self, ticket: int, deadline: float | None = None) -> int:
        """Wait until the pass serving ``ticket`` ended (or ``deadline``); how many it delivered
        (0 when stopping or past the deadline)."""
        with self._cond:
            while self._done < ticket and not self._stopping:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    log.warning("sink_still_delivering", sink=self.sink.name, hint="it goes on in the background")
                    return 0
                self._cond.wait(left)
            return next((n for first, n in sorted(self._results.items(), reverse=True) if first <= ticket), 0)

    def stop(self) -> None:
        """Ask the thread to end after its current pass."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False when it is still delivering."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._asked == self._done and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                first, upto, force = self._done + 1, self._asked, self._force
                self._force = False
            try:
                delivered = self.dispatcher._pass(self.sink, self.batch_size, force)
            except Exception as exc:  # a sink bug must not end its thread silently
                log.error("sink_delivery_crashed", sink=self.sink.name, error=type(exc).__name__)
                self.dispatcher.state[self.sink.name].last_error = f"sink crashed ({type(exc).__name__})"
                delivered = 0
            with self._cond:
                self._results = {k: v for k, v in self._results.items() if k > upto - 64}
                self._results[first] = delivered
                self._done = upto
                self._cond.notify_all()
