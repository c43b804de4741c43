"""The ``events:`` section of poller.yaml: validation into frozen values.

Owns the shape of the push-event configuration (HTTP intake, AMQP listeners, debounce,
queue bound, per-source authentication). Every problem is one ConfigError naming
``<file>: events.<key>``; a token's or secret's value never appears in a message.

    events:
      http: {host: 127.0.0.1, port: 8787, max_body: 1048576}   # omit: no HTTP intake
      debounce: 2s            # events for one entity within this window cost one more fetch at most
      queue_size: 10000       # entities waiting for a fetch; beyond it HTTP answers 503
      workers: 2              # refreshes run in parallel across sources (one at a time per source)
      busy_retry: 1s          # first wait when a snapshot holds the source's lease (doubles, max 30 s)
      max_retries: 5          # attempts after a failed fetch before the event is dropped
      sources:
        os1:
          token: ${OS1_EVENTS_TOKEN}          # Authorization: Bearer <token>
          amqp: {url: "amqp://...", exchanges: [nova, neutron], topic: notifications.info}  # topic: one or a list
        cs1:
          hmac_secret: ${CS_WEBHOOK_SECRET}   # CloudStack webhooks: X-CS-Signature
        lab:
          auth: none                          # explicitly unauthenticated
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from poller.config import Config, parse_duration
from poller.errors import ConfigError

DEFAULT_PORT = 8787
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_DEBOUNCE = 2.0
DEFAULT_QUEUE_SIZE = 10_000
# oslo.messaging publishes notifications on one exchange per service (its control_exchange),
# with the routing key "<topic>.<priority>": notifications.info by default.
OPENSTACK_EXCHANGES = ("nova", "neutron", "glance", "cinder", "keystone", "heat")
OPENSTACK_TOPIC = "notifications.info"
# CloudStack's RabbitMQEventBus publishes on one durable topic exchange (default name in its
# rabbitmq event-bus bean: cloudstack-events) with routing keys
# "<source>.<category>.<type>.<resource type>.<uuid>": "#" binds them all.
CLOUDSTACK_EXCHANGES = ("cloudstack-events",)
CLOUDSTACK_TOPIC = "#"
_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib)?\s*$", re.I)
_UNITS = {None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_TOP_KEYS = ("http", "debounce", "queue_size", "workers", "busy_retry", "max_retries", "sources")
_SOURCE_KEYS = ("auth", "token", "hmac_secret", "amqp")
_AMQP_KEYS = ("url", "exchanges", "topic", "queue", "durable_exchanges", "prefetch")


@dataclass(frozen=True)
class HttpConfig:
    """Where the HTTP intake listens and how large a body it reads."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class AmqpConfig:
    """One AMQP listener: the broker, the exchanges to bind and our own queue."""

    url: str = field(repr=False)
    exchanges: tuple[str, ...]
    topics: tuple[str, ...]  # binding keys: notifications.info, versioned_notifications.info, '#'...
    queue: str
    durable_exchanges: bool
    prefetch: int = 100


@dataclass(frozen=True)
class SourceEvents:
    """How events for one source are authenticated and where else they come from."""

    name: str
    token: str | None = field(default=None, repr=False)
    hmac_secret: str | None = field(default=None, repr=False)
    auth_none: bool = False
    amqp: AmqpConfig | None = None

    @property
    def schemes(self) -> tuple[str, ...]:
        """The accepted schemes, for messages: bearer, hmac or none."""
        if self.auth_none:
            return ("none",)
        return tuple(s for s, v in (("bearer", self.token), ("hmac", self.hmac_secret)) if v)


@dataclass(frozen=True)
class EventsConfig:
    """The validated ``events:`` section; ``enabled`` is False when nothing is configured."""

    http: HttpConfig | None = None
    debounce: float = DEFAULT_DEBOUNCE
    queue_size: int = DEFAULT_QUEUE_SIZE
    workers: int = 2
    busy_retry: float = 1.0
    max_retries: int = 5
    sources: Mapping[str, SourceEvents] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """True when some intake (HTTP or AMQP) is configured."""
        return self.http is not None or any(s.amqp is not None for s in self.sources.values())


def events_config(config: Config) -> EventsConfig:
    """Validate ``config.events`` (already ``${ENV}``-interpolated) against the config's sources."""
    return _Check(config).section(config.events)


class _Check:
    def __init__(self, config: Config) -> None:
        self.config = config

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.config.path}: events.{key}: {problem}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a mapping")
        return value

    def known(self, value: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                raise self.fail(where, f"unknown key (allowed: {', '.join(allowed)})")

    def integer(self, section: Mapping[str, Any], name: str, key: str, default: int, lo: int, hi: int) -> int:
        value = section.get(name)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(f"{key}{name}", f"must be an integer from {lo} to {hi}")
        return value

    def duration(self, section: Mapping[str, Any], name: str, key: str, default: float) -> float:
        value = section.get(name)
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            raise self.fail(f"{key}{name}", "must be a duration like 0.5, 2s or 1m")
        return seconds

    def text(self, section: Mapping[str, Any], name: str, key: str, *, secret: bool = False) -> str | None:
        value = section.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}{name}", "must be a non-empty string" + (" (use ${ENV_VAR})" if secret else ""))
        return value

    def section(self, raw: Any) -> EventsConfig:
        top = self.mapping(raw, "")
        self.known(top, "", _TOP_KEYS)
        debounce = self.duration(top, "debounce", "", DEFAULT_DEBOUNCE)
        if "http" in top and not top.get("sources"):
            raise self.fail("sources", "is empty: list the sources that take events, each with its token, "
                                       "hmac_secret or auth: none")
        return EventsConfig(
            http=self.http(top.get("http")) if "http" in top else None,
            debounce=debounce,
            queue_size=self.integer(top, "queue_size", "", DEFAULT_QUEUE_SIZE, 1, 10_000_000),
            workers=self.integer(top, "workers", "", 2, 1, 64),
            busy_retry=max(0.01, self.duration(top, "busy_retry", "", 1.0)),
            max_retries=self.integer(top, "max_retries", "", 5, 0, 1000),
            sources=self.sources(top.get("sources")),
        )

    def http(self, raw: Any) -> HttpConfig:
        section = self.mapping(raw, "http")
        self.known(section, "http", ("host", "port", "max_body"))
        host = self.text(section, "host", "http.") or "127.0.0.1"
        return HttpConfig(
            host=host,
            port=self.integer(section, "port", "http.", DEFAULT_PORT, 0, 65535),
            max_body=self.size(section.get("max_body"), "http.max_body"),
        )

    def size(self, value: Any, key: str) -> int:
        if value is None:
            return DEFAULT_MAX_BODY
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            match = _SIZE.match(value) if isinstance(value, str) else None
            if match is None:
                raise self.fail(key, "must be a size in bytes like 1048576, 512KiB or 1MiB")
            number = int(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None]
        if not 1 <= number <= 256 * 1024**2:
            raise self.fail(key, "must be between 1 byte and 256 MiB")
        return number

    def topics(self, value: Any, key: str, cloudstack: bool) -> tuple[str, ...]:
        if value is None:
            return (CLOUDSTACK_TOPIC if cloudstack else OPENSTACK_TOPIC,)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(x, str) and x for x in value):
            raise self.fail(key, "must be a binding key like notifications.info, or a list of them")
        return tuple(dict.fromkeys(value))

    def sources(self, raw: Any) -> dict[str, SourceEvents]:
        section = self.mapping(raw, "sources")
        out: dict[str, SourceEvents] = {}
        for name, entry in section.items():
            key = f"sources.{name}"
            collector = next((s.collector for s in self.config.sources if s.name == name), None)
            if collector is None:
                known = ", ".join(s.name for s in self.config.sources) or "none"
                raise self.fail(key, f"no source named {name!r} in sources (configured: {known})")
            out[str(name)] = self.source(str(name), collector, self.mapping(entry, key), key)
        return out

    def source(self, name: str, collector: str, entry: Mapping[str, Any], key: str) -> SourceEvents:
        self.known(entry, key, _SOURCE_KEYS)
        token = self.text(entry, "token", f"{key}.", secret=True)
        secret = self.text(entry, "hmac_secret", f"{key}.", secret=True)
        auth = entry.get("auth")
        if auth is not None and auth not in ("token", "bearer", "hmac", "none"):
            raise self.fail(f"{key}.auth", "must be token, hmac or none")
        if auth == "none" and (token or secret):
            raise self.fail(f"{key}.auth", "is none, but a token or hmac_secret is set: remove one or the other")
        if auth in ("token", "bearer") and not token:
            raise self.fail(f"{key}.token", "is required when auth is token")
        if auth == "hmac" and not secret:
            raise self.fail(f"{key}.hmac_secret", "is required when auth is hmac")
        if auth is None and not (token or secret):
            raise self.fail(key, "set token (Authorization: Bearer), hmac_secret (X-CS-Signature), or auth: none")
        amqp = self.amqp(entry.get("amqp"), collector, name, f"{key}.amqp") if entry.get("amqp") is not None else None
        return SourceEvents(name, token=token, hmac_secret=secret, auth_none=auth == "none", amqp=amqp)

    def amqp(self, raw: Any, collector: str, name: str, key: str) -> AmqpConfig:
        section = self.mapping(raw, key)
        self.known(section, key, _AMQP_KEYS)
        url = self.text(section, "url", f"{key}.", secret=True)
        if url is None:
            raise self.fail(f"{key}.url", "is required (amqp://user:password@host:5672/vhost)")
        if not url.startswith(("amqp://", "amqps://")):
            raise self.fail(f"{key}.url", "must start with amqp:// or amqps://")
        cloudstack = collector == "cloudstack"
        exchanges = section.get("exchanges")
        if exchanges is None:
            exchanges = list(CLOUDSTACK_EXCHANGES if cloudstack else OPENSTACK_EXCHANGES)
        if isinstance(exchanges, str):
            exchanges = [exchanges]
        if not isinstance(exchanges, list) or not exchanges or not all(isinstance(x, str) and x for x in exchanges):
            raise self.fail(f"{key}.exchanges", "must be a non-empty list of exchange names")
        durable = section.get("durable_exchanges", cloudstack)
        if not isinstance(durable, bool):
            raise self.fail(f"{key}.durable_exchanges", "must be true or false")
        return AmqpConfig(
            url=url,
            exchanges=tuple(dict.fromkeys(exchanges)),
            topics=self.topics(section.get("topic"), f"{key}.topic", cloudstack),
            queue=self.text(section, "queue", f"{key}.") or f"cloud-poller.events.{name}",
            durable_exchanges=durable,
            prefetch=self.integer(section, "prefetch", f"{key}.", 100, 1, 65535),
        )
