"""Pure functions from Nagios JSON CGI records to Entities: hosts and services.

Owns the state codes, names, parents and the attribute payload joined from a status
record (``statusjson.cgi``) and an object record (``objectjson.cgi``, which alone
carries the address, parent hosts and check command). Never does I/O, never reads a
clock, never invents a field Nagios did not send.

State codes are Nagios Core's ``statusjson.cgi`` "status" values, which are bit flags
(``include/statusdata.h`` in NagiosEnterprises/nagioscore: ``HOST_PENDING 1``,
``SD_HOST_UP 2``, ``SD_HOST_DOWN 4``, ``SD_HOST_UNREACHABLE 8``; ``SERVICE_PENDING 1``,
``SERVICE_OK 2``, ``SERVICE_WARNING 4``, ``SERVICE_UNKNOWN 8``, ``SERVICE_CRITICAL 16``;
named by ``svm_host_statuses``/``svm_service_statuses`` in ``cgi/jsonutils.c``). They
are NOT the plugin exit codes 0..3, which Nagios uses for ``last_hard_state``
(``svm_host_states``/``svm_service_states``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from collectors.base import Entity, ParentRef
from collectors.nagios import types as t

Raw = Mapping[str, Any]

HOST_STATUS = {1: "PENDING", 2: "UP", 4: "DOWN", 8: "UNREACHABLE"}
SERVICE_STATUS = {1: "PENDING", 2: "OK", 4: "WARNING", 8: "UNKNOWN", 16: "CRITICAL"}
# svm_state_types: 0 soft, 1 hard; svm_acknowledgement_types: 0 none, 1 normal, 2 sticky.
# last_hard_state is NOT a status bit flag: svm_host_states / svm_service_states (cgi/jsonutils.c) map
# it as the plugin exit code (host 0 up, 1 down, 2 unreachable; service 0 ok, 1 warning, 2 critical, 3 unknown).
HOST_HARD_STATE = {0: "UP", 1: "DOWN", 2: "UNREACHABLE"}
SERVICE_HARD_STATE = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
STATE_TYPE = {0: "SOFT", 1: "HARD"}
ACK_TYPE = {0: None, 1: "NORMAL", 2: "STICKY"}


class MappingError(ValueError):
    """A record lacks a field every Nagios 4 record has (the message names it)."""


def service_key(host: str, description: str) -> str:
    """The key of a service: ``host/description`` (a host name holds no ``/`` in practice; a description may)."""
    return f"{host}/{description}"


def split_service_key(key: str) -> tuple[str, str]:
    """``(host, description)`` from a service key, splitting at the first ``/``; ValueError if there is none."""
    host, sep, description = key.partition("/")
    if not sep or not host or not description:
        raise ValueError(f"service key {key!r} is not host/description")
    return host, description


def host_entity(status: Raw, obj: Raw) -> Entity:
    """A ``nagios.host`` from its status record and its object record."""
    name = _required(status, "name")
    parents = sorted(str(p) for p in obj.get("parent_hosts") or ())
    attributes = {
        "address": obj.get("address") or None,
        "alias": obj.get("alias") or None,
        "parents": parents,
        "check_command": obj.get("check_command") or None,
        "hard_state": HOST_HARD_STATE.get(status.get("last_hard_state")),
        **_common(status),
    }
    return Entity(t.HOST.name, key=name, name=name, state=_state(status, HOST_STATUS),
                  parent=ParentRef(t.HOST.name, parents[0]) if parents else None,
                  updated_at=_time(status.get("last_state_change")), attributes=attributes)


def service_entity(status: Raw, obj: Raw) -> Entity:
    """A ``nagios.service`` from its status record and its object record."""
    host = _required(status, "host_name")
    description = _required(status, "description")
    attributes = {
        "host_name": host,
        "description": description,
        "display_name": obj.get("display_name") or None,
        "check_command": obj.get("check_command") or None,
        "hard_state": SERVICE_HARD_STATE.get(status.get("last_hard_state")),
        **_common(status),
    }
    return Entity(t.SERVICE.name, key=service_key(host, description), name=description,
                  state=_state(status, SERVICE_STATUS), parent=ParentRef(t.HOST.name, host),
                  updated_at=_time(status.get("last_state_change")), attributes=attributes)


def hosts(status: Mapping[str, Raw], objects: Mapping[str, Raw]) -> tuple[list[Entity], list[str]]:
    """Host entities joined by name, and the names present in only one of the two listings."""
    both = sorted(set(status) & set(objects))
    odd = sorted(set(status) ^ set(objects))
    return [host_entity(status[name], objects[name]) for name in both], odd


def services(status: Mapping[str, Mapping[str, Raw]],
             objects: Mapping[str, Mapping[str, Raw]]) -> tuple[list[Entity], list[str]]:
    """Service entities joined by (host, description), and the keys present in only one listing."""
    flat_status = _flatten(status)
    flat_objects = _flatten(objects)
    both = sorted(set(flat_status) & set(flat_objects))
    odd = sorted(set(flat_status) ^ set(flat_objects))
    return [service_entity(flat_status[key], flat_objects[key]) for key in both], odd


def _flatten(nested: Mapping[str, Mapping[str, Raw]]) -> dict[str, Raw]:
    """servicelist's ``{host: {description: record}}`` as ``{host/description: record}``."""
    return {service_key(host, desc): record for host, by_desc in nested.items() for desc, record in by_desc.items()}


def _common(status: Raw) -> dict[str, Any]:
    """What hosts and services share: check settings, acknowledgement, downtime, output and timings."""
    return {
        "state_type": STATE_TYPE.get(status.get("state_type")),
        "has_been_checked": status.get("has_been_checked"),
        "notifications_enabled": status.get("notifications_enabled"),
        "active_checks_enabled": status.get("checks_enabled"),
        "passive_checks_enabled": status.get("accept_passive_checks"),
        "event_handler_enabled": status.get("event_handler_enabled"),
        "acknowledged": status.get("problem_has_been_acknowledged"),
        "acknowledgement_type": ACK_TYPE.get(status.get("acknowledgement_type")),
        "in_downtime": _positive(status.get("scheduled_downtime_depth")),
        "flapping": status.get("is_flapping"),
        "max_attempts": status.get("max_attempts"),
        # volatile by default (types.VOLATILE): they move on every check, or (the state change
        # times) jump from 0 to the first check's time once without any change of condition
        "last_state_change": _time(status.get("last_state_change")),
        "last_hard_state_change": _time(status.get("last_hard_state_change")),
        "plugin_output": status.get("plugin_output") or None,
        "long_plugin_output": status.get("long_plugin_output") or None,
        "perf_data": status.get("perf_data") or None,
        "current_attempt": status.get("current_attempt"),
        "last_check": _time(status.get("last_check")),
        "next_check": _time(status.get("next_check")),
        "latency": status.get("latency"),
        "execution_time": status.get("execution_time"),
        "percent_state_change": status.get("percent_state_change"),
    }


def _state(status: Raw, codes: Mapping[int, str]) -> str:
    code = _required(status, "status")
    if isinstance(code, str) and code.upper() in codes.values():
        return code.upper()  # formatoptions=enumerate answers names instead of codes
    if isinstance(code, bool) or not isinstance(code, int) or code not in codes:
        raise MappingError(f"status {code!r} is not a Nagios status code ({', '.join(map(str, codes))})")
    return codes[code]


def _required(raw: Raw, field: str) -> Any:
    if field not in raw or raw[field] is None:
        raise MappingError(f"record without {field!r}")
    return raw[field]


def _positive(value: Any) -> bool | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value > 0


def _time(value: Any) -> str | None:
    """The CGIs' milliseconds since the epoch as ISO 8601 UTC; 0 (never) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
