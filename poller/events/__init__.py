"""Push events: HTTP and AMQP intakes that turn provider events into immediate, verified refreshes.

An event is a hint, never the truth: it names entities, which are re-fetched from the API
and compared with the baseline like a poll (``poller.refresh``). ``EventService`` wires the
intakes (``http``, ``amqp``) to the worker (``processor``); ``config`` validates ``events:``.
"""

from __future__ import annotations

from poller.events.config import EventsConfig, events_config
from poller.events.service import EventService, serve

__all__ = ["EventService", "EventsConfig", "events_config", "serve"]
