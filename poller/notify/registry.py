"""Sink kinds by name, loaded lazily: ``type:`` in notify.sinks picks one.

Owns nothing but the mapping; never constructs a sink at import time.
"""

from __future__ import annotations

from importlib import import_module

from poller.config import SinkConfig
from poller.errors import SinkConfigError
from poller.notify.base import Sink

KINDS = {
    "stdout": "poller.notify.stdout:StdoutSink",
    "jsonl": "poller.notify.jsonl:JsonlSink",
    "webhook": "poller.notify.webhook:WebhookSink",
    "amqp": "poller.notify.amqp:AmqpSink",
    "callback": "poller.notify.callbacks:CallbackSink",
}


def build_sink(config: SinkConfig) -> Sink:
    """Construct the sink a config entry describes; SinkConfigError when it cannot be."""
    if config.options_error:
        raise SinkConfigError(config.options_error)  # an unset ${ENV}, demanded only now
    target = KINDS.get(config.type)
    if target is None:
        raise SinkConfigError(f"notify.sinks.{config.name}.type: unknown sink type {config.type!r} (known: {', '.join(KINDS)})")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SinkConfigError(f"notify.sinks.{config.name}: sink type {config.type!r} is not available ({type(exc).__name__})") from exc
    return cls(config.name, config.options)  # type: ignore[no-any-return]
