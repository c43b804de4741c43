"""The AMQP sink: publishes notifications to a durable RabbitMQ topic exchange through kombu.

It owns its broker connection (opened lazily, reopened on the ``deliver`` after a loss),
the exchange declaration and the mapping of a notification to a persistent, confirmed
message. It never retries on its own and never puts the URL's password in a message or log.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import amqp.exceptions
import kombu
import kombu.exceptions
import structlog

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.base import OutboxRecord
from poller.notify.options import problem, timeout_option, url_option

DEFAULT_EXCHANGE = "poller"
DEFAULT_TIMEOUT = 10.0
CONTENT_TYPE = "application/json"
PERSISTENT = 2
MAX_ROUTING_KEY_BYTES = 255  # AMQP 0-9-1 shortstr
APP_ID = "cloud-poller"
_OPTIONS = frozenset({"url", "exchange", "timeout"})
# AMQP 0-9-1 reply codes (spec section 1.2 "Constants"); named here so messages never need broker text.
_REPLY_NAMES = {
    320: "CONNECTION_FORCED",
    403: "ACCESS_REFUSED",
    404: "NOT_FOUND",
    405: "RESOURCE_LOCKED",
    406: "PRECONDITION_FAILED",
    501: "FRAME_ERROR",
    503: "COMMAND_INVALID",
    504: "CHANNEL_ERROR",
    506: "RESOURCE_ERROR",
    530: "NOT_ALLOWED",
    541: "INTERNAL_ERROR",
}
_BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    amqp.exceptions.AMQPError,
    amqp.exceptions.MessageNacked,
    kombu.exceptions.KombuError,
)

log = structlog.get_logger(__name__)


def routing_key(record: OutboxRecord) -> str:
    """Return the record's routing key ``<source>.<entity_type>.<action>``."""
    return f"{record.source}.{record.entity_type}.{record.action}"


def safe_broker(url: str) -> str:
    """Return ``host:port/vhost`` of an AMQP URL: no user, no password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return f"{host}:{port} vhost {vhost}"


@dataclass(frozen=True, slots=True)
class AmqpOptions:
    """The validated options of one AMQP sink."""

    url: str
    exchange: str
    timeout: float


class _Refused(Exception):
    """One message is refused for good (e.g. larger than the broker's max_message_size).

    ``channel_closed`` says whether the broker closed the channel (then the connection is dropped).
    """

    def __init__(self, reason: str, *, channel_closed: bool) -> None:
        super().__init__(reason)
        self.channel_closed = channel_closed


class AmqpSink:
    """Publishes each notification, in the order handed, as a persistent message with publisher confirms.

    A record counts as delivered only once the broker confirmed it. On any broker or
    connection error the connection is dropped and DeliveryError(retryable=True) says how
    many records were confirmed; the next ``deliver`` reconnects and re-declares the exchange.
    A message the broker refuses for good (PRECONDITION_FAILED on publish, a routing key over
    255 bytes) raises DeliveryError(retryable=False) so that record is parked.
    """

    kind: ClassVar[str] = "amqp"
    durable: ClassVar[bool] = True

    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.options = validate_options(name, options)
        self._broker = safe_broker(self.options.url)
        self._lock = threading.Lock()
        self._connection: kombu.Connection | None = None
        self._producer: kombu.Producer | None = None
        self._lost = False

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """Publish ``records`` in order; return when every one is confirmed, else raise DeliveryError.

        A kept connection that turns out dead before the first confirm (the broker restarted
        or dropped it while idle) is replaced once, at once; any other failure is the caller's to retry.
        """
        if not records:
            return
        with self._lock:
            reused = self._producer is not None
            try:
                self._publish_all(records)
            except DeliveryError as exc:
                if not (reused and exc.retryable and exc.delivered == 0):
                    raise
                log.info("amqp_connection_stale", sink=self.name, broker=self._broker)
                self._publish_all(records)

    def _publish_all(self, records: Sequence[OutboxRecord]) -> None:
        try:
            producer = self._ensure_producer()
        except _BROKER_ERRORS as exc:
            self._drop()
            reason = f"could not connect or declare the exchange: {_describe(exc)}"
            raise self._error(reason, 0, records, True) from exc
        confirmed = 0
        try:
            for record in records:
                self._publish(producer, record)
                confirmed += 1
        except _Refused as exc:
            if exc.channel_closed:
                self._drop()
            reason = f"refused notification {records[confirmed].id}: {exc}"
            raise self._error(reason, confirmed, records, False) from None
        except _BROKER_ERRORS as exc:
            self._drop()
            raise self._error(f"publish failed: {_describe(exc)}", confirmed, records, True) from exc

    def close(self) -> None:
        """Close the broker connection, if any."""
        with self._lock:
            connection, self._connection, self._producer = self._connection, None, None
            if connection is not None:
                try:
                    connection.release()
                except _BROKER_ERRORS:
                    connection.collect()

    def _ensure_producer(self) -> kombu.Producer:
        if self._producer is not None:
            return self._producer
        connection = kombu.Connection(
            self.options.url,
            connect_timeout=self.options.timeout,
            transport_options={"confirm_publish": True},
            heartbeat=0,
        )
        self._connection = connection
        connection.ensure_connection(max_retries=0)  # fail fast: the dispatcher owns retries and backoff
        channel = connection.channel()
        exchange = kombu.Exchange(self.options.exchange, type="topic", durable=True, auto_delete=False)
        exchange(channel).declare()
        self._producer = kombu.Producer(channel, exchange=exchange, auto_declare=False)
        log.info("amqp_connected", sink=self.name, broker=self._broker, reconnect=self._lost)
        self._lost = False
        return self._producer

    def _publish(self, producer: kombu.Producer, record: OutboxRecord) -> None:
        key = routing_key(record)
        if len(key.encode("utf-8")) > MAX_ROUTING_KEY_BYTES:
            raise _Refused(f"routing key longer than {MAX_ROUTING_KEY_BYTES} bytes", channel_closed=False)
        try:
            producer.publish(
                record.body,
                routing_key=key,
                delivery_mode=PERSISTENT,
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                message_id=record.id,
                app_id=APP_ID,
                timeout=self.options.timeout,
                confirm_timeout=self.options.timeout,
            )
        except amqp.exceptions.PreconditionFailed:
            # On basic.publish RabbitMQ answers 406 for a message over its max_message_size.
            reason = "the broker answered PRECONDITION_FAILED (406), e.g. message too large"
            raise _Refused(reason, channel_closed=True) from None

    def _drop(self) -> None:
        """Forget the connection without network I/O; the next deliver opens a new one."""
        connection, self._connection, self._producer = self._connection, None, None
        self._lost = True
        if connection is not None:
            connection.collect()

    def _error(self, reason: str, confirmed: int, records: Sequence[OutboxRecord], retryable: bool) -> DeliveryError:
        message = (
            f"amqp sink {self.name}: exchange {self.options.exchange!r} at {self._broker}: {reason} "
            f"({confirmed} of {len(records)} confirmed)"
        )
        return DeliveryError(message, delivered=confirmed, retryable=retryable)


def _describe(exc: BaseException) -> str:
    """Describe a broker error from its type and AMQP reply code only (never the upstream text)."""
    if isinstance(exc, amqp.exceptions.MessageNacked):
        return "the broker nacked a message"
    code = getattr(exc, "code", None) or getattr(exc, "reply_code", None)
    if isinstance(code, int) and code in _REPLY_NAMES:
        return f"broker error {code} {_REPLY_NAMES[code]} ({type(exc).__name__})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError) or isinstance(exc.__cause__, ConnectionRefusedError):
        return "connection refused"
    return f"connection failed ({type(exc).__name__})"


def validate_options(name: str, options: Mapping[str, Any]) -> AmqpOptions:
    """Check an AMQP sink's options; raise SinkConfigError naming ``notify.sinks.<name>.<field>``."""
    if not isinstance(options, Mapping):
        raise SinkConfigError(f"notify.sinks.{name}: options must be a mapping")
    unknown = sorted(str(key) for key in options if key not in _OPTIONS)
    if unknown:
        raise SinkConfigError(f"notify.sinks.{name}.{unknown[0]}: unknown option for an amqp sink")
    return AmqpOptions(
        url=url_option(name, options.get("url"), ("amqp", "amqps")),
        exchange=_exchange(name, options.get("exchange", DEFAULT_EXCHANGE)),
        timeout=timeout_option(name, options.get("timeout", DEFAULT_TIMEOUT)),
    )






def _exchange(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value.encode("utf-8")) > 127:
        raise problem(name, "exchange", "must be a non-empty name of at most 127 bytes")
    if value.startswith("amq."):
        raise problem(name, "exchange", "must not start with 'amq.' (reserved by the broker)")
    return value

