"""fetch by id and the translation of CloudStack event-bus messages."""

from __future__ import annotations

import json
from collections.abc import Callable

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator

Make = Callable[..., CloudStackCollector]
VM = "cloudstack.virtualmachine"


class TestFetch:
    def test_fetch_returns_the_entity(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """fetch(VM, id) returns that VM mapped like a listing does."""
        collector = make_collector()
        vm = emulator.demo.vms[1]
        entity = collector.fetch(collector.entity_type(VM), vm["id"])
        assert entity is not None and (entity.key, entity.name, entity.parent.key) == (vm["id"], "web-2", vm["hostid"])

    def test_fetch_finds_project_resources(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A project VM is found through the projectid=-1 pass."""
        collector = make_collector()
        vm = emulator.demo.vms[5]
        entity = collector.fetch(collector.entity_type(VM), vm["id"])
        assert entity is not None and entity.project == emulator.demo.project["id"]

    def test_fetch_of_removed_entity_is_none(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """An empty answer for a removed VM means gone: None."""
        collector = make_collector()
        vm = emulator.demo.vms[2]
        emulator.inventory.destroy_vm(vm["id"])
        assert collector.fetch(collector.entity_type(VM), vm["id"]) is None

    def test_fetch_of_unknown_uuid_is_none(self, make_collector: Make) -> None:
        """A uuid the cloud never knew (431 'entity does not exist') is None too."""
        collector = make_collector()
        assert collector.fetch(collector.entity_type(VM), "00000000-0000-4000-8000-000000000000") is None

    def test_fetch_template_folds_zones(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """Fetching a template in two zones gives one entity with both zones."""
        collector = make_collector()
        entity = collector.fetch(collector.entity_type("cloudstack.template"), emulator.demo.template["id"])
        assert entity is not None and len(entity.attributes["zones"]) == 2


class TestEvents:
    def translate(self, make_collector: Make, event: dict[str, object]) -> list[tuple[str, str]]:
        return make_collector().translate_event(event)

    def test_action_event_with_java_class_entity(self, make_collector: Make) -> None:
        """An old-style action event (entity = Java interface name) names the VM."""
        event = {"event": "VM.STOP", "status": "Completed", "entity": "com.cloud.vm.VirtualMachine",
                 "entityuuid": "u-1", "description": "Stopping VM"}
        assert self.translate(make_collector, event) == [(VM, "u-1")]

    def test_action_event_with_resource_type(self, make_collector: Make) -> None:
        """A newer action event (entity = resource type) names the volume."""
        event = {"event": "VOLUME.ATTACH", "status": "Completed", "entity": "Volume", "entityuuid": "v-1"}
        assert self.translate(make_collector, event) == [("cloudstack.volume", "v-1")]

    def test_router_action_is_a_router(self, make_collector: Make) -> None:
        """ROUTER.* events published with the VirtualMachine entity name the router."""
        event = {"event": "ROUTER.REBOOT", "status": "Completed", "entity": "com.cloud.vm.VirtualMachine",
                 "entityuuid": "r-1"}
        assert self.translate(make_collector, event) == [("cloudstack.router", "r-1")]

    def test_started_action_is_ignored(self, make_collector: Make) -> None:
        """An action event still Scheduled/Started names nothing yet."""
        event = {"event": "VM.STOP", "status": "Started", "entity": "VirtualMachine", "entityuuid": "u-1"}
        assert self.translate(make_collector, event) == []

    def test_state_change_event(self, make_collector: Make) -> None:
        """A resource state-change event (resource, id, old-state, new-state) names the entity."""
        event = {"resource": "Volume", "id": "v-9", "old-state": "Allocated", "new-state": "Ready"}
        assert self.translate(make_collector, event) == [("cloudstack.volume", "v-9")]

    def test_envelope_with_json_description(self, make_collector: Make) -> None:
        """An event-bus envelope whose description is a JSON string is unwrapped."""
        inner = {"resource": "VirtualMachine", "id": "u-2", "old-state": "Starting", "new-state": "Running"}
        event = {"eventType": "VirtualMachine-StateChange", "resourceType": "VirtualMachine",
                 "description": json.dumps(inner)}
        assert self.translate(make_collector, event) == [(VM, "u-2")]

    def test_template_entity_may_be_template_or_iso(self, make_collector: Make) -> None:
        """A VirtualMachineTemplate event names both the template and the ISO type for that id."""
        event = {"event": "TEMPLATE.UPDATE", "status": "Completed",
                 "entity": "com.cloud.template.VirtualMachineTemplate", "entityuuid": "t-1"}
        assert self.translate(make_collector, event) == [("cloudstack.template", "t-1"), ("cloudstack.iso", "t-1")]

    def test_unknown_events_name_nothing(self, make_collector: Make) -> None:
        """Events about types we do not collect name nothing."""
        event = {"event": "USER.LOGIN", "status": "Completed", "entity": "com.cloud.user.User", "entityuuid": "x"}
        assert self.translate(make_collector, event) == []
