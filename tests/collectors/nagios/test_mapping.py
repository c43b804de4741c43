"""collectors.nagios.mapping and events: pure functions from JSON CGI records to entities and event targets."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.nagios import events, mapping

# Shapes as Nagios Core 4.4.6's statusjson.cgi / objectjson.cgi answer them (details=true), trimmed.
HOST_STATUS: dict[str, Any] = {
    "name": "db1", "plugin_output": "PING OK - rta 0.05ms", "long_plugin_output": "", "perf_data": "rta=0.05ms",
    "status": 2, "has_been_checked": True, "current_attempt": 1, "max_attempts": 3, "last_check": 1796405932000,
    "next_check": 1796405934000, "last_state_change": 1796405930000, "last_hard_state_change": 1796405930000,
    "last_hard_state": 0, "state_type": 1, "notifications_enabled": True, "problem_has_been_acknowledged": False,
    "acknowledgement_type": 0, "accept_passive_checks": True, "event_handler_enabled": True, "checks_enabled": True,
    "is_flapping": False, "percent_state_change": 0.0, "latency": 0.001, "execution_time": 0.01,
    "scheduled_downtime_depth": 0,
}
HOST_OBJECT: dict[str, Any] = {"name": "db1", "alias": "database", "address": "127.0.0.2",
                               "parent_hosts": ["sw2", "gw"], "check_command": "check-host-alive"}
SERVICE_STATUS: dict[str, Any] = {**{k: v for k, v in HOST_STATUS.items() if k != "name"},
                                  "host_name": "db1", "description": "disk /var", "status": 16, "last_state_change": 0}
SERVICE_OBJECT: dict[str, Any] = {"host_name": "db1", "description": "disk /var", "display_name": "Disk /var",
                                  "check_command": "check_disk!10%!5%!/var"}


class TestStates:
    @pytest.mark.parametrize(("code", "state"), [(1, "PENDING"), (2, "UP"), (4, "DOWN"), (8, "UNREACHABLE")])
    def test_host_status_bit_flags(self, code: int, state: str) -> None:
        """Host status codes are statusdata.h's bit flags: 1 pending, 2 up, 4 down, 8 unreachable."""
        assert mapping.host_entity({**HOST_STATUS, "status": code}, HOST_OBJECT).state == state

    @pytest.mark.parametrize(("code", "state"),
                             [(1, "PENDING"), (2, "OK"), (4, "WARNING"), (8, "UNKNOWN"), (16, "CRITICAL")])
    def test_service_status_bit_flags(self, code: int, state: str) -> None:
        """Service status codes are statusdata.h's: 1 pending, 2 ok, 4 warning, 8 unknown, 16 critical."""
        assert mapping.service_entity({**SERVICE_STATUS, "status": code}, SERVICE_OBJECT).state == state

    def test_plugin_exit_codes_are_not_status_codes(self) -> None:
        """0 and 3 (plugin exit codes) are not statusjson status values: the record is refused, not misread."""
        for code in (0, 3):
            with pytest.raises(mapping.MappingError, match="not a Nagios status code"):
                mapping.host_entity({**HOST_STATUS, "status": code}, HOST_OBJECT)

    def test_enumerated_names_are_accepted(self) -> None:
        """formatoptions=enumerate answers names ("critical"): they map to the same state."""
        assert mapping.service_entity({**SERVICE_STATUS, "status": "critical"}, SERVICE_OBJECT).state == "CRITICAL"


class TestHost:
    def test_key_name_parent_and_attributes(self) -> None:
        """A host is keyed by its name, parented by its first parent (sorted), with object-config attributes."""
        entity = mapping.host_entity(HOST_STATUS, HOST_OBJECT)
        assert (entity.type, entity.key, entity.name) == ("nagios.host", "db1", "db1")
        assert (entity.parent.type, entity.parent.key) == ("nagios.host", "gw")
        assert entity.attributes["parents"] == ["gw", "sw2"]
        assert entity.attributes["address"] == "127.0.0.2"
        assert entity.attributes["check_command"] == "check-host-alive"
        assert entity.attributes["state_type"] == "HARD"
        assert entity.attributes["last_check"] == "2026-12-04T17:38:52Z"

    def test_root_host_has_no_parent(self) -> None:
        """A host without parent hosts has no parent reference."""
        assert mapping.host_entity(HOST_STATUS, {**HOST_OBJECT, "parent_hosts": []}).parent is None

    def test_acknowledgement_and_downtime(self) -> None:
        """Acknowledged (sticky) and a downtime depth above 0 show as attributes."""
        status = {**HOST_STATUS, "problem_has_been_acknowledged": True, "acknowledgement_type": 2,
                  "scheduled_downtime_depth": 1}
        attributes = mapping.host_entity(status, HOST_OBJECT).attributes
        assert (attributes["acknowledged"], attributes["acknowledgement_type"], attributes["in_downtime"]) == (
            True, "STICKY", True)

    def test_never_is_none_and_empty_is_none(self) -> None:
        """Time 0 (never) and empty strings become None, never ""."""
        attributes = mapping.host_entity({**HOST_STATUS, "last_check": 0}, {**HOST_OBJECT, "address": ""}).attributes
        assert attributes["last_check"] is None and attributes["address"] is None
        assert attributes["long_plugin_output"] is None

    def test_record_without_status_is_refused(self) -> None:
        """A record lacking the required status field raises MappingError naming it."""
        with pytest.raises(mapping.MappingError, match="'status'"):
            mapping.host_entity({k: v for k, v in HOST_STATUS.items() if k != "status"}, HOST_OBJECT)


class TestService:
    def test_key_parent_and_name(self) -> None:
        """A service is keyed host/description and parented by its host."""
        entity = mapping.service_entity(SERVICE_STATUS, SERVICE_OBJECT)
        assert (entity.key, entity.name) == ("db1/disk /var", "disk /var")
        assert (entity.parent.type, entity.parent.key) == ("nagios.host", "db1")
        assert entity.attributes["check_command"] == "check_disk!10%!5%!/var"

    def test_split_key_at_the_first_slash(self) -> None:
        """A description may hold '/', so the key splits at the first one."""
        assert mapping.split_service_key("db1/disk /var") == ("db1", "disk /var")
        with pytest.raises(ValueError, match="host/description"):
            mapping.split_service_key("no-slash")

    def test_join_reports_names_in_one_listing_only(self) -> None:
        """Services present in only one of status and objects are reported, not mapped."""
        status = {"db1": {"disk /var": SERVICE_STATUS}, "web1": {"http": {**SERVICE_STATUS, "host_name": "web1",
                                                                          "description": "http"}}}
        objects = {"db1": {"disk /var": SERVICE_OBJECT}}
        entities, odd = mapping.services(status, objects)
        assert [e.key for e in entities] == ["db1/disk /var"] and odd == ["web1/http"]


class TestVolatile:
    def test_what_moves_on_every_check_is_volatile(self) -> None:
        """Check times, latency, execution time, attempts, perf data and output are declared volatile."""
        from collectors.nagios import types

        for path in ("/last_check", "/next_check", "/latency", "/execution_time", "/current_attempt", "/perf_data",
                     "/plugin_output"):
            assert path in types.HOST.volatile and path in types.SERVICE.volatile
        assert "/hard_state" not in types.HOST.volatile and "/acknowledged" not in types.SERVICE.volatile

    def test_hard_state_uses_exit_codes_not_status_flags(self) -> None:
        """last_hard_state is svm_service_states' 0..3 (2 critical), unlike status's bit flags (2 ok)."""
        entity = mapping.service_entity({**SERVICE_STATUS, "last_hard_state": 2}, SERVICE_OBJECT)
        assert (entity.state, entity.attributes["hard_state"]) == ("CRITICAL", "CRITICAL")
        assert mapping.host_entity({**HOST_STATUS, "last_hard_state": 1}, HOST_OBJECT).attributes["hard_state"] == "DOWN"


class TestEvents:
    def test_service_event(self) -> None:
        """A service event names host/description."""
        event = {"object_type": "service", "host_name": "db1", "service_description": "disk /var", "state": "CRITICAL"}
        assert events.translate(event) == [("nagios.service", "db1/disk /var")]

    def test_host_event(self) -> None:
        """A host event names the host."""
        assert events.translate({"object_type": "host", "host_name": "gw", "state": "DOWN"}) == [("nagios.host", "gw")]

    def test_kind_inferred_from_fields(self) -> None:
        """Without object_type, a service description makes it a service event; otherwise a host event."""
        assert events.translate({"host": "gw"}) == [("nagios.host", "gw")]
        assert events.translate({"hostname": "db1", "servicedesc": "pgsql"}) == [("nagios.service", "db1/pgsql")]

    def test_events_naming_nothing(self) -> None:
        """An event without a host, or a service event without a description, names nothing."""
        assert events.translate({"object_type": "service", "host_name": "db1"}) == []
        assert events.translate({"state": "DOWN"}) == []
        assert events.translate({"host_name": ""}) == []
