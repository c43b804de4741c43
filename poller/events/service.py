"""The event service: the processor, the HTTP intake and the AMQP listeners, started and stopped together.

Owns the wiring and the lifecycle (threads) of the push-event path, for ``poller serve``
(alone) and for ``poller run`` (embedded). It never schedules snapshots and never closes
the store or the dispatcher it was given.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from baseline.store import Store
from collectors.base import Collector
from poller.config import Config
from poller.errors import ConfigError
from poller.events.amqp import AmqpListener
from poller.events.config import EventsConfig, events_config
from poller.events.http import EventHttpServer
from poller.events.processor import Committed, EventProcessor
from poller.events.stats import Stats
from poller.notify.dispatch import Dispatcher

log = structlog.get_logger("poller.events")

DELIVERY_INTERVAL = 5.0


class EventService:
    """Everything that turns pushed events into refreshes; ``start()`` then ``stop()``.

    ``dispatcher`` receives the notifications of committed refreshes (unless ``on_commit``
    replaces that hand-off, e.g. with the scheduler service's own publish-and-wake).
    Construction validates the ``events:`` section and builds the collectors (no network I/O).
    """

    def __init__(
        self, config: Config, store: Store, dispatcher: Dispatcher | None, *, on_commit: Committed | None = None,
        collectors: Mapping[str, Collector] | None = None,
    ) -> None:
        self.config = config
        self.events: EventsConfig = events_config(config)
        self.stats = Stats()
        self.processor = EventProcessor(config, self.events, store, dispatcher, stats=self.stats, on_commit=on_commit,
                                        collectors=collectors)
        self.http = None if self.events.http is None else EventHttpServer(self.events.http, self.events, self.processor,
                                                                          self.stats)
        self.listeners = [AmqpListener(name, s.amqp, self.processor, self.stats)
                          for name, s in self.events.sources.items() if s.amqp is not None]
        self._started = False

    @property
    def enabled(self) -> bool:
        """True when the config has any intake (HTTP or AMQP)."""
        return self.events.enabled

    @property
    def url(self) -> str | None:
        """The HTTP intake's base URL once started (None without HTTP intake)."""
        return None if self.http is None else self.http.url

    def start(self) -> None:
        """Start the workers, then the intakes (a port already in use raises ConfigError)."""
        if self._started:
            return
        self.processor.start()
        try:
            if self.http is not None:
                self.http.start()
        except OSError as exc:
            self.processor.stop()
            settings = self.events.http
            assert settings is not None
            raise ConfigError(f"{self.config.path}: events.http: cannot listen on {settings.host}:{settings.port} "
                              f"({exc.strerror or type(exc).__name__})") from None
        for listener in self.listeners:
            listener.start()
        self._started = True
        log.info("events_started", sources=sorted(self.events.sources), http=self.url,
                 amqp=[listener.source for listener in self.listeners])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the intakes first, then let the refresh under way finish and stop the workers."""
        if not self._started:
            return
        deadline = time.monotonic() + timeout
        if self.http is not None:
            self.http.stop()
        for listener in self.listeners:
            listener.stop(max(0.1, min(10.0, deadline - time.monotonic())))
        self.processor.stop(max(0.1, deadline - time.monotonic()))
        self._started = False
        log.info("events_stopped", counts=self.stats.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """Counters by source and the backlog, for status pages."""
        return {"backlog": self.processor.backlog, "sources": self.stats.snapshot()}


def serve(
    config: Config, store: Store, dispatcher: Dispatcher, stop: threading.Event | None = None,
    on_started: Callable[[EventService], None] | None = None,
) -> int:
    """Run the event intake alone until SIGTERM/SIGINT (or ``stop`` is set); returns the exit code 0.

    Signal handlers are installed only when called from the main thread. The durable sinks'
    backlog is retried every few seconds, since no scheduler does it here. ``on_started``
    is called once the intakes are up (the CLI says where it listens).
    """
    service = EventService(config, store, dispatcher)
    if not service.enabled:
        raise ConfigError(f"{config.path}: events: nothing to serve (configure events.http or a source's amqp)")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    service.start()
    if on_started is not None:
        on_started(service)
    try:
        while not stop.wait(DELIVERY_INTERVAL):
            try:
                service.processor.deliver_pending()
            except Exception as exc:  # the outbox keeps them; the next round retries
                log.warning("delivery_deferred", error=type(exc).__name__)
    finally:
        service.stop(config.service.stop_timeout)
    return 0
