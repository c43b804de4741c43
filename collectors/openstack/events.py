"""Pure mapping of oslo.messaging notifications to the (entity type, key) pairs they are about.

Accepts both envelopes: v1 (the message itself: ``event_type``, ``payload``...) and
v2 (``{"oslo.version": "2.0", "oslo.message": "<JSON text of the v1 message>"}``),
and both Nova payload styles (legacy dicts and versioned ``nova_object.data``).
An event this collector does not model maps to no pairs. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

Pairs = list[tuple[str, str]]


def unwrap(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The v1 message inside an event, whichever envelope it came in; {} when malformed."""
    if "oslo.message" in event:
        inner = event["oslo.message"]
        if isinstance(inner, str | bytes):
            try:
                inner = orjson.loads(inner)
            except orjson.JSONDecodeError:
                return {}
        return inner if isinstance(inner, Mapping) else {}
    return event


def _data(payload: Any) -> Mapping[str, Any]:
    """A versioned Nova payload's data, or the legacy payload itself."""
    if isinstance(payload, Mapping):
        inner = payload.get("nova_object.data")
        return inner if isinstance(inner, Mapping) else payload
    return {}


def _first(mapping: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = mapping.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def _neutron(kind: str, resource: str) -> Callable[[Mapping[str, Any]], Pairs]:
    def targets(payload: Mapping[str, Any]) -> Pairs:
        body = payload.get(resource)
        key = _first(body, "id") if isinstance(body, Mapping) else None
        key = key or _first(payload, f"{resource}_id")
        return [(kind, key)] if key else []
    return targets


def _rule(payload: Mapping[str, Any]) -> Pairs:
    body = payload.get("security_group_rule")
    key = _first(body, "security_group_id") if isinstance(body, Mapping) else None
    return [("network.security_group", key)] if key else []


def _simple(kind: str, *names: str) -> Callable[[Mapping[str, Any]], Pairs]:
    def targets(payload: Mapping[str, Any]) -> Pairs:
        key = _first(_data(payload), *names)
        return [(kind, key)] if key else []
    return targets


def _stack(payload: Mapping[str, Any]) -> Pairs:
    identity = _first(payload, "stack_identity")
    key = identity.rstrip("/").rsplit("/", 1)[-1] if identity else None
    return [("orchestration.stack", key)] if key else []


# event_type prefix (up to its first dots) -> how to find the keys; the longest prefix wins
_RULES: dict[str, Callable[[Mapping[str, Any]], Pairs]] = {
    "compute.instance": _simple("compute.server", "instance_id", "uuid"),
    "instance": _simple("compute.server", "uuid", "instance_id"),
    "flavor": _simple("compute.flavor", "flavorid", "flavor_id", "id"),
    "aggregate": _simple("compute.aggregate", "id", "aggregate_id"),
    "keypair": _simple("compute.keypair", "name", "key_name"),
    "service": _simple("compute.service", "uuid"),
    "image": _simple("image.image", "id", "image_id"),
    "network": _neutron("network.network", "network"),
    "subnet": _neutron("network.subnet", "subnet"),
    "port": _neutron("network.port", "port"),
    "router": _neutron("network.router", "router"),
    "floatingip": _neutron("network.floating_ip", "floatingip"),
    "security_group": _neutron("network.security_group", "security_group"),
    "security_group_rule": _rule,
    "volume": _simple("block_storage.volume", "volume_id", "id"),
    "snapshot": _simple("block_storage.snapshot", "snapshot_id", "id"),
    "identity.project": _simple("identity.project", "resource_info"),
    "identity.user": _simple("identity.user", "resource_info"),
    "identity.domain": _simple("identity.domain", "resource_info"),
    "orchestration.stack": _stack,
}


def event_targets(event: Mapping[str, Any]) -> Pairs:
    """The (entity type, key) pairs a notification names; [] when it names none we model."""
    message = unwrap(event)
    event_type = message.get("event_type")
    payload = message.get("payload")
    if not isinstance(event_type, str) or not isinstance(payload, Mapping):
        return []
    parts = event_type.split(".")
    for length in range(len(parts) - 1, 0, -1):
        rule = _RULES.get(".".join(parts[:length]))
        if rule is not None:
            return rule(payload)
    return []
