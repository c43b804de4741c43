"""Nagios event-handler / notification events -> the (entity type, key) pairs they are about.

Owns the mapping of the JSON that ``etc/nagios-notify-poller.sh`` posts (Nagios macro
values: ``{"object_type": "service", "host_name": ..., "service_description": ...,
"state": ..., "state_type": ...}``; ``object_type`` may be omitted: a service description
makes it a service event). Pure: no I/O. The state in an event is never trusted: it
only names what to re-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.nagios import mapping
from collectors.nagios import types as t

HOST_KEYS = ("host_name", "hostname", "host")
SERVICE_KEYS = ("service_description", "servicedesc", "service")


def translate(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (type, key) pair an event names; [] when it names no host."""
    host = _first(event, HOST_KEYS)
    if host is None:
        return []
    kind = str(event.get("object_type") or "").lower()
    service = _first(event, SERVICE_KEYS)
    if kind == "host" or (not kind and service is None):
        return [(t.HOST.name, host)]
    if kind in ("service", "") and service is not None:
        return [(t.SERVICE.name, mapping.service_key(host, service))]
    return []


def _first(event: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
