"""In-process subscribers for library use: callbacks run on one worker thread fed from a bounded queue.

It owns the subscriptions, the queue and the worker thread. ``deliver`` only enqueues: it
never blocks and never runs a callback. A callback's exception is logged (``callback_failed``)
and counted, never raised. When the queue is full a notification is dropped and counted:
this sink is not durable (it sees what is produced while it runs), and the poll must not wait.
"""

from __future__ import annotations

import fnmatch
import math
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
import structlog

from poller.config import parse_duration
from poller.errors import SinkConfigError
from poller.notification import BASELINE_INITIALIZED
from poller.notify.base import OutboxRecord

Callback = Callable[[dict[str, Any]], object]

DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_CLOSE_TIMEOUT = 5.0
_OPTIONS = frozenset({"queue_size", "close_timeout"})
_DROP_LOG_EVERY = 1000
_STOP = object()

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CallbackOptions:
    """The validated options of one callback sink."""

    queue_size: int = DEFAULT_QUEUE_SIZE
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT


@dataclass(eq=False, slots=True)
class Subscription:
    """One ``subscribe`` registration; ``cancel()`` stops further calls (one already running finishes)."""

    patterns: tuple[str, ...]
    callback: Callback
    _sink: CallbackSink | None = field(default=None, repr=False)

    def matches(self, entity_type: str) -> bool:
        """True when ``entity_type`` matches one of the patterns (exact names or fnmatch globs)."""
        return any(fnmatch.fnmatchcase(entity_type, pattern) for pattern in self.patterns)

    def cancel(self) -> None:
        """Unsubscribe: the callback is not called for notifications it has not started on."""
        if self._sink is not None:
            self._sink.unsubscribe(self)


def concerned_types(record: OutboxRecord) -> tuple[str, ...]:
    """The entity types a notification concerns: its own, and for a ``baseline_initialized`` marker (F25)
    also each type it initialized, so a subscriber of ``compute.*`` hears of its types' silent first load."""
    if record.action != BASELINE_INITIALIZED:
        return (record.entity_type,)
    try:
        types = orjson.loads(record.body).get("baseline", {}).get("types", {})
    except (orjson.JSONDecodeError, AttributeError):
        return (record.entity_type,)
    return (record.entity_type, *(t for t in types if isinstance(t, str)))


class CallbackSink:
    """Calls subscribed callbacks with each notification (the parsed JSON dict), in order, on a worker thread.

    ``deliver`` enqueues and returns at once. Counters: ``errors`` (callback exceptions and
    unparsable notifications), ``dropped`` (queue full, or left over at close), ``calls``
    (callbacks that returned normally).
    """

    kind: ClassVar[str] = "callback"
    durable: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.options = validate_options(name, options or {})
        self.errors = 0
        self.dropped = 0
        self.calls = 0
        self._subscriptions: tuple[Subscription, ...] = ()
        self._queue: queue.Queue[object] = queue.Queue()  # bounded by deliver, so close can always enqueue _STOP
        self._idle = threading.Condition()
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False
        self._worker: threading.Thread | None = None

    def subscribe(self, entity_types: str | Iterable[str] | None, callback: Callback) -> Subscription:
        """Call ``callback(notification)`` for every notification of the given entity types.

        ``entity_types`` is one name or pattern, an iterable of them (fnmatch globs such as
        ``compute.*``), or None for every type.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        subscription = Subscription(_patterns(entity_types), callback, self)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"callback sink {self.name} is closed")
            self._subscriptions = (*self._subscriptions, subscription)
            self._start_worker()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription; unknown ones are ignored."""
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """Enqueue the records some subscription wants; drop (and count) what does not fit. Never blocks."""
        subscriptions = self._subscriptions
        for record in records:
            types = concerned_types(record)
            if not any(s.matches(t) for s in subscriptions for t in types):
                continue
            with self._lock:  # close() flips _closed under this lock: nothing is enqueued behind its stop marker
                accepted = not self._closed and self._queue.qsize() < self.options.queue_size
                if accepted:
                    with self._idle:
                        self._pending += 1
                    self._queue.put_nowait(record)
            if not accepted:
                self._drop(record)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every enqueued notification was handled; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop accepting, let the worker drain for at most ``close_timeout`` seconds, then stop it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        if worker is None:
            return
        self._queue.put_nowait(_STOP)
        worker.join(self.options.close_timeout)
        if worker.is_alive():
            left = self._discard_queued()
            self._queue.put_nowait(_STOP)  # the worker exits once its stuck callback returns
            log.warning("callback_close_timeout", sink=self.name, timeout=self.options.close_timeout, dropped=left)

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name=f"poller-callbacks-{self.name}", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, OutboxRecord)
            try:
                self._dispatch(item)
            finally:
                self._done(1)

    def _dispatch(self, record: OutboxRecord) -> None:
        try:
            notification = orjson.loads(record.body)
        except orjson.JSONDecodeError:
            self.errors += 1
            log.error("callback_bad_notification", sink=self.name, notification_id=record.id)
            return
        types = concerned_types(record)
        for subscription in self._subscriptions:
            if any(subscription.matches(t) for t in types):
                self._call(subscription, record, notification)

    def _call(self, subscription: Subscription, record: OutboxRecord, notification: dict[str, Any]) -> None:
        try:
            subscription.callback(notification)
        except Exception as exc:
            self.errors += 1
            log.error(
                "callback_failed",
                sink=self.name,
                callback=_callable_name(subscription.callback),
                notification_id=record.id,
                entity_type=record.entity_type,
                error_type=type(exc).__name__,
                errors=self.errors,
                exc_info=True,
            )
        else:
            self.calls += 1

    def _drop(self, record: OutboxRecord) -> None:
        with self._idle:  # deliver and close may both count drops
            self.dropped += 1
            dropped = self.dropped
        if dropped % _DROP_LOG_EVERY == 1:
            reason = "closed" if self._closed else "queue_full"
            log.warning("callback_dropped", sink=self.name, reason=reason, notification_id=record.id, dropped=dropped)

    def _discard_queued(self) -> int:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                left += 1
        with self._idle:
            self.dropped += left
        self._done(left)
        return left

    def _done(self, count: int) -> None:
        if count:
            with self._idle:
                self._pending -= count
                self._idle.notify_all()


def _patterns(entity_types: str | Iterable[str] | None) -> tuple[str, ...]:
    if entity_types is None:
        return ("*",)
    patterns = (entity_types,) if isinstance(entity_types, str) else tuple(entity_types)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ValueError("entity_types must be None, a non-empty string, or non-empty strings")
    return patterns


def _callable_name(callback: Callback) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__qualname__


def validate_options(name: str, options: Mapping[str, Any]) -> CallbackOptions:
    """Check a callback sink's options; raise SinkConfigError naming ``notify.sinks.<name>.<field>``."""
    if not isinstance(options, Mapping):
        raise SinkConfigError(f"notify.sinks.{name}: options must be a mapping")
    unknown = sorted(str(key) for key in options if key not in _OPTIONS)
    if unknown:
        raise SinkConfigError(f"notify.sinks.{name}.{unknown[0]}: unknown option for a callback sink")
    size = options.get("queue_size", DEFAULT_QUEUE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SinkConfigError(f"notify.sinks.{name}.queue_size: must be a positive integer")
    timeout = parse_duration(options.get("close_timeout", DEFAULT_CLOSE_TIMEOUT))
    if timeout is None or not math.isfinite(timeout):
        raise SinkConfigError(f"notify.sinks.{name}.close_timeout: must be a duration like 5, 5s or 1m (0 or more)")
    return CallbackOptions(queue_size=size, close_timeout=timeout)
