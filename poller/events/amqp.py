"""The AMQP intake: a kombu consumer per source on OpenStack's notification topic or CloudStack's event bus.

Owns one broker connection per listener (reconnecting with backoff), the declaration of
our own queue and its bindings, and the decoding of a message body into one event.
It never fetches anything itself, never requeues a malformed message, and never puts the
broker URL's password in a log line or message.

OpenStack: oslo.messaging's rabbit driver publishes notifications on a topic exchange per
service (``nova``, ``neutron``...: its control_exchange, not durable by default) with the
routing key ``notifications.info`` (topic + priority), body ``{"oslo.version": "2.0",
"oslo.message": "<JSON>"}``. CloudStack's RabbitMQEventBus publishes the event's
description JSON (text/plain, persistent) on one durable topic exchange with routing keys
``<source>.<category>.<type>.<resource type>.<uuid>``. Exchanges are checked passively
first, so an existing exchange is used whatever its flags; a missing one is declared.

We consume from our own queue (``cloud-poller.events.<source>`` by default; several poller
processes may share it and split the work), never from the services' own queues, so
Ceilometer and other consumers keep getting their copies. A message is acknowledged once
it is queued for a fetch; when the queue is full the consumer waits (backpressure). A
process crash can lose events that were acknowledged but not yet fetched: the periodic
snapshot reconciles them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

import amqp.exceptions
import kombu
import kombu.exceptions
import orjson
import structlog

from poller.events.config import AmqpConfig
from poller.events.processor import EventProcessor, QueueFull
from poller.events.stats import Stats
from poller.notify.amqp import safe_broker

log = structlog.get_logger("poller.events.amqp")

QUEUE_EXPIRES_MS = 24 * 3600 * 1000  # an abandoned queue (poller gone for a day) is removed by the broker
HEARTBEAT = 60
_BROKER_ERRORS: tuple[type[BaseException], ...] = (OSError, amqp.exceptions.AMQPError, kombu.exceptions.KombuError)


def decode(body: bytes | str) -> Mapping[str, Any] | None:
    """The event in a message body (a JSON object), or None when it is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


class AmqpListener:
    """Consumes one source's events from a broker in a daemon thread until ``stop()``."""

    def __init__(self, source: str, settings: AmqpConfig, processor: EventProcessor, stats: Stats,
                 *, max_backoff: float = 30.0) -> None:
        self.source = source
        self.settings = settings
        self.processor = processor
        self.stats = stats
        self.max_backoff = max_backoff
        self.broker = safe_broker(settings.url)
        self.ready = threading.Event()  # set while consuming (for tests and health)
        self._stop = threading.Event()
        self._connection: kombu.Connection | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and consume in a daemon thread (connection failures are retried, not raised)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"events-amqp-{self.source}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming; unacknowledged messages go back to the queue."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 1.0
            except _BROKER_ERRORS as exc:
                self.ready.clear()
                log.warning("events_amqp_unavailable", source=self.source, broker=self.broker,
                            error=type(exc).__name__, retry_in_s=delay)
                if self._stop.wait(delay):
                    return
                delay = min(self.max_backoff, delay * 2)
            except Exception as exc:  # a bug must not end the listener silently
                self.ready.clear()
                log.error("events_amqp_crashed", source=self.source, error=type(exc).__name__)
                if self._stop.wait(delay):
                    return
                delay = min(self.max_backoff, delay * 2)

    def _consume(self) -> None:
        with kombu.Connection(self.settings.url, connect_timeout=10, heartbeat=HEARTBEAT) as conn:
            conn.connect()
            self._connection = conn
            exchanges = [self._exchange(conn, name) for name in self.settings.exchanges]
            queue = kombu.Queue(
                self.settings.queue, durable=True, auto_delete=False,
                queue_arguments={"x-expires": QUEUE_EXPIRES_MS},
                bindings=[kombu.binding(ex, routing_key=topic) for ex in exchanges for topic in self.settings.topics],
            )
            channel = conn.channel()
            with kombu.Consumer(channel, queues=[queue], on_message=self._on_message,
                                prefetch_count=self.settings.prefetch):
                self.ready.set()
                log.info("events_amqp_consuming", source=self.source, broker=self.broker, queue=self.settings.queue,
                         exchanges=list(self.settings.exchanges), topics=list(self.settings.topics))
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:  # socket.timeout: nothing arrived within a second
                        conn.heartbeat_check()
            self.ready.clear()

    def _exchange(self, conn: kombu.Connection, name: str) -> kombu.Exchange:
        """The exchange ``name`` for binding: used as it is when it exists, else declared."""
        exchange = kombu.Exchange(name, type="topic", durable=self.settings.durable_exchanges)
        channel = conn.channel()
        try:
            exchange.bind(channel).declare(passive=True)
        except amqp.exceptions.NotFound:
            channel = conn.channel()  # the broker closed the channel that asked
            exchange.bind(channel).declare()
        finally:
            _close(channel)
        return kombu.Exchange(name, type="topic", durable=self.settings.durable_exchanges, no_declare=True)

    def _on_message(self, message: kombu.Message) -> None:
        event = decode(message.body)
        if event is None:
            self.stats.add("malformed", self.source)
            log.info("events_amqp_malformed", source=self.source, reason="the body is not a JSON object")
            message.ack()
            return
        while True:
            try:
                self.processor.submit(self.source, [event])
            except QueueFull:
                if self._stop.wait(0.5):
                    message.requeue()
                    return
                if self._connection is not None:
                    self._connection.heartbeat_check()
                continue
            message.ack()
            return


def _close(channel: Any) -> None:
    with contextlib.suppress(*_BROKER_ERRORS):
        channel.close()
