"""Listings against the emulator: every type, parents, paging, and consistency under changes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from collectors.base import Entity
from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator, Inventory
from collectors.cloudstack.emulator.commands import list_records
from collectors.cloudstack.types import ALL_TYPES
from tests.collectors.cloudstack.conftest import run

Make = Callable[..., CloudStackCollector]

EXPECTED_COUNTS = {
    "cloudstack.zone": 2, "cloudstack.pod": 2, "cloudstack.cluster": 2, "cloudstack.host": 10,
    "cloudstack.storagepool": 4, "cloudstack.imagestore": 2, "cloudstack.systemvm": 4, "cloudstack.router": 1,
    "cloudstack.virtualmachine": 6, "cloudstack.volume": 8, "cloudstack.snapshot": 1, "cloudstack.network": 2,
    "cloudstack.vpc": 1, "cloudstack.publicipaddress": 1, "cloudstack.template": 2, "cloudstack.iso": 1,
    "cloudstack.serviceoffering": 2, "cloudstack.diskoffering": 2, "cloudstack.networkoffering": 1,
    "cloudstack.domain": 2, "cloudstack.account": 2, "cloudstack.project": 1, "cloudstack.securitygroup": 2,
}


def by_name(entities: list[Entity]) -> dict[str | None, Entity]:
    return {entity.name: entity for entity in entities}


class TestEveryType:
    @pytest.mark.parametrize("etype", [e.name for e in ALL_TYPES])
    def test_type_lists_completely(self, make_collector: Make, etype: str) -> None:
        """Each of the 23 types lists completely with the seeded number of unique entities."""
        listing, entities = run(make_collector(page_size=3), etype)
        assert (listing.complete, listing.error, len({e.key for e in entities})) == (True, None, EXPECTED_COUNTS[etype])
        assert listing.total == EXPECTED_COUNTS[etype]

    def test_all_23_types_declared(self) -> None:
        """The collector declares exactly the issue's 23 types."""
        assert {e.name for e in ALL_TYPES} == set(EXPECTED_COUNTS)

    def test_vm_name_is_displayname_when_set(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A VM is named by its displayname when set."""
        _, vms = run(make_collector(), "cloudstack.virtualmachine")
        assert {"web-2", "vm-001"} <= {vm.name for vm in vms}

    def test_project_is_projectid_else_account(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """project is the project id for project resources, else the account name."""
        _, vms = run(make_collector(), "cloudstack.virtualmachine")
        assert sorted(vm.project or "" for vm in vms) == sorted(["admin"] * 5 + [emulator.demo.project["id"]])

    def test_state_is_filled(self, make_collector: Make) -> None:
        """VM state comes from the response."""
        _, vms = run(make_collector(), "cloudstack.virtualmachine")
        assert {vm.state for vm in vms} == {"Running"}

    def test_template_in_two_zones_is_one_entity(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A template registered in two zones is one entity with both zones."""
        _, templates = run(make_collector(), "cloudstack.template")
        ubuntu = by_name(templates)["Ubuntu 22.04"]
        assert sorted(z["zoneid"] for z in ubuntu.attributes["zones"]) == sorted(z["id"] for z in emulator.demo.zones)

    def test_account_users_carry_no_keys(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """B13: API and secret keys in account records never reach the attributes."""
        emulator.inventory.update("account", emulator.inventory.first("account", name="alice")["id"],
                                  user=[{"username": "alice", "apikey": "canary-api", "secretkey": "canary-secret"}])
        _, accounts = run(make_collector(), "cloudstack.account")
        assert "canary" not in repr([a.attributes for a in accounts])


class TestParents:
    def parents(self, make_collector: Make, etype: str) -> dict[str | None, tuple[str, str] | None]:
        _, entities = run(make_collector(), etype)
        return {e.name: (e.parent.type, e.parent.key) if e.parent else None for e in entities}

    def test_hierarchy_zone_pod_cluster_host(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """pod -> zone, cluster -> pod, hypervisor host -> cluster."""
        inv = emulator.inventory
        pod, cluster, host = inv.first("pod", name="pod-1a"), inv.first("cluster", name="cluster-1a"), \
            inv.first("host", name="kvm-1a-01")
        assert self.parents(make_collector, "cloudstack.pod")["pod-1a"] == ("cloudstack.zone", pod["zoneid"])
        assert self.parents(make_collector, "cloudstack.cluster")["cluster-1a"] == ("cloudstack.pod", pod["id"])
        assert self.parents(make_collector, "cloudstack.host")["kvm-1a-01"] == ("cloudstack.cluster", cluster["id"])
        assert host["clusterid"] == cluster["id"]

    def test_system_host_without_cluster_hangs_under_zone(self, make_collector: Make,
                                                          emulator: CloudStackEmulator) -> None:
        """A secondary storage VM's host has no cluster: its parent is the zone."""
        ssvm_host = emulator.inventory.first("host", name="s-1-VM")
        assert self.parents(make_collector, "cloudstack.host")["s-1-VM"] == ("cloudstack.zone", ssvm_host["zoneid"])

    def test_storage_pool_by_scope(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A CLUSTER pool hangs under its cluster, a ZONE pool under its zone."""
        inv = emulator.inventory
        parents = self.parents(make_collector, "cloudstack.storagepool")
        assert parents["pool-1a"] == ("cloudstack.cluster", inv.first("cluster", name="cluster-1a")["id"])
        assert parents["zone-pool-1"] == ("cloudstack.zone", inv.first("zone", name="zone-1")["id"])

    def test_vm_under_host_then_zone_when_stopped(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A running VM hangs under its host; stopped (no host) under its zone."""
        vm = emulator.demo.vms[0]
        assert self.parents(make_collector, "cloudstack.virtualmachine")["vm-001"] == ("cloudstack.host", vm["hostid"])
        emulator.inventory.stop_vm(vm["id"])
        assert self.parents(make_collector, "cloudstack.virtualmachine")["vm-001"] == ("cloudstack.zone", vm["zoneid"])

    def test_volume_under_vm_else_zone(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """An attached volume hangs under its VM, a detached one under its zone."""
        parents = self.parents(make_collector, "cloudstack.volume")
        assert parents["data-01"] == ("cloudstack.virtualmachine", emulator.demo.vms[0]["id"])
        assert parents["spare-01"] == ("cloudstack.zone", emulator.demo.zones[0]["id"])

    def test_snapshot_under_volume_and_domains_nest(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A snapshot hangs under its volume; a subdomain under its parent domain; ROOT under nothing."""
        snapshot = emulator.inventory.first("snapshot")
        assert self.parents(make_collector, "cloudstack.snapshot")[snapshot["name"]] == (
            "cloudstack.volume", snapshot["volumeid"])
        domains = self.parents(make_collector, "cloudstack.domain")
        assert domains["ROOT"] is None
        assert domains["engineering"] == ("cloudstack.domain", emulator.inventory.first("domain", name="ROOT")["id"])

    def test_system_vm_and_router_under_host(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """System VMs and routers hang under the host they run on."""
        router, ssvm = emulator.inventory.first("router"), emulator.inventory.first("systemvm")
        routers = self.parents(make_collector, "cloudstack.router")
        assert routers[router["name"]] == ("cloudstack.host", router["hostid"])
        assert self.parents(make_collector, "cloudstack.systemvm")[ssvm["name"]] == ("cloudstack.host", ssvm["hostid"])


class TestPaging:
    def test_listing_walks_every_page(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """With page_size 3, ten hosts take pages 1..4 and all are listed once."""
        listing, hosts = run(make_collector(page_size=3), "cloudstack.host")
        pages = [r.page for r in emulator.requests if r.command == "listHosts"]
        assert (listing.complete, len(hosts), pages) == (True, 10, [1, 2, 3, 4])

    def test_exact_multiple_stops_at_count(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """When the count is reached on a full page, no extra page is requested."""
        run(make_collector(page_size=5), "cloudstack.host")
        assert [r.page for r in emulator.requests if r.command == "listHosts"] == [1, 2]

    def test_project_resources_are_listed_too(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A second pass with projectid=-1 lists project resources."""
        _, vms = run(make_collector(), "cloudstack.virtualmachine")
        assert "vm-006" in {vm.attributes["name"] for vm in vms}
        assert any("projectid" in r.params for r in emulator.requests if r.command == "listVirtualMachines")

    def test_empty_type_is_complete_and_empty(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F08: An empty answer ({}) is a complete, empty listing."""
        emulator.inventory.delete("snapshot", emulator.inventory.first("snapshot")["id"])
        listing, snapshots = run(make_collector(), "cloudstack.snapshot")
        assert (listing.complete, snapshots, listing.total) == (True, [], 0)

    def test_failed_page_makes_the_listing_incomplete(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F01: A 530 on page 2 ends the listing incomplete, naming the page."""
        emulator.inject_error("listHosts", 530, page=2)
        listing, _ = run(make_collector(page_size=3), "cloudstack.host")
        assert listing.complete is False
        assert "page 2" in str(listing.error) and "530" in str(listing.error)

    def test_posts_keep_keys_out_of_urls(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """Every request is a POST whose URL carries no key or signature."""
        run(make_collector(), "cloudstack.zone")
        assert {(r.method, r.path) for r in emulator.requests} == {("POST", "/client/api")}

    def test_expires_is_sent_by_default(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F05: Requests carry signatureVersion 3 and expires by default, and not with expires: false."""
        run(make_collector(), "cloudstack.zone")
        run(make_collector(expires=False), "cloudstack.pod")
        params = {r.command: r.params for r in emulator.requests}
        assert {"signatureVersion", "expires"} <= set(params["listZones"])
        assert not {"signatureVersion", "expires"} & set(params["listPods"])


def delete_first_vm(inventory: Inventory) -> None:
    """Delete the first VM in listing order (it was on page 1)."""
    inventory.destroy_vm(inventory.ids("virtualmachine")[0])


class TestDemo:
    def test_demo_changes_show_in_the_next_listing(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """After apply_demo_changes: one VM more, one gone, one stopped under its zone, the volume attached."""
        collector = make_collector()
        before = {vm.key for vm in run(collector, "cloudstack.virtualmachine")[1]}
        changed = emulator.apply_demo_changes()
        vms = {vm.key: vm for vm in run(collector, "cloudstack.virtualmachine")[1]}
        volumes = {v.key: v for v in run(collector, "cloudstack.volume")[1]}
        assert set(vms) == before - {changed["destroyed"]} | {changed["deployed"]}
        assert (vms[changed["stopped"]].state, vms[changed["stopped"]].parent.type) == ("Stopped", "cloudstack.zone")
        assert volumes[changed["attached"]].parent.type == "cloudstack.virtualmachine"


class TestScale:
    @pytest.mark.slow
    def test_ten_thousand_vms_list_completely(self) -> None:
        """10,000 VMs list completely in pages of 500 (20 pages plus the project pass)."""
        with CloudStackEmulator() as emu:
            emu.seed_scale(10_000)
            collector = CloudStackCollector("big", emu.source_options())
            listing, vms = run(collector, "cloudstack.virtualmachine")
            pages = [r.page for r in emu.requests if r.command == "listVirtualMachines"]
        assert (listing.complete, len({vm.key for vm in vms}), listing.total) == (True, 10_000, 10_000)
        assert pages == list(range(1, 21)) + [1]


class TestChangesBetweenPages:
    def test_deletion_on_page_one_triggers_a_relist(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F12: A VM deleted from page 1 while page 2 is read: the relisted result has every alive VM."""
        emulator.on_page("listVirtualMachines", 2, delete_first_vm)
        listing, vms = run(make_collector(page_size=2), "cloudstack.virtualmachine")
        alive = {vm["id"] for vm in emulator.inventory.records("virtualmachine")}
        assert (listing.complete, {vm.key for vm in vms}) == (True, alive)
        assert [r.page for r in emulator.requests if r.command == "listVirtualMachines"].count(1) >= 3

    def test_changes_on_every_read_make_it_incomplete(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F12: When the listing moves under both reads it is incomplete (nothing would be deleted)."""
        emulator.on_page("listVirtualMachines", 2, delete_first_vm, times=2)
        listing, vms = run(make_collector(page_size=2), "cloudstack.virtualmachine")
        assert (listing.complete, vms) == (False, [])
        assert "moved while paging" in str(listing.error)

    def test_creation_between_pages_is_not_missed(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A VM created while paging is either listed or the listing is relisted; no alive VM is missing."""
        demo = emulator.demo

        def deploy(inventory: Inventory) -> None:
            inventory.deploy_vm("late", host=demo.hosts[0], template=demo.template, offering=demo.offering,
                                network=demo.network)

        emulator.on_page("listVirtualMachines", 2, deploy)
        listing, vms = run(make_collector(page_size=2), "cloudstack.virtualmachine")
        assert listing.complete and {vm.key for vm in vms} == set(emulator.inventory.ids("virtualmachine"))

    def test_repeated_page_is_inconsistent(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F09: A server that answers the same page twice is caught (relist, then incomplete)."""
        original = emulator.answer

        def stuck(method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
            status, body = original(method, path, params)  # checks the signature
            if status == 200 and "page" in params:
                body = list_records(emulator.inventory, "listHosts", {**params, "page": "1"}, 500)
            return status, body

        emulator.answer = stuck  # type: ignore[method-assign]
        listing, _ = run(make_collector(page_size=3), "cloudstack.host")
        assert listing.complete is False and "repeated" in str(listing.error)


class TestVolatile:
    def test_idle_cloud_changes_only_volatile_fields(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F29: After counters and heartbeats move, every entity is equal once its volatile paths are removed."""
        collector = make_collector()
        before = {e.name: strip(run(collector, e.name)[1], e.volatile) for e in ALL_TYPES}
        emulator.tick(5)
        after = {e.name: strip(run(collector, e.name)[1], e.volatile) for e in ALL_TYPES}
        assert before == after

    def test_a_real_change_survives_stripping(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A changed service offering is still visible after volatile paths are removed."""
        collector = make_collector()
        etype = collector.entity_type("cloudstack.virtualmachine")
        before = strip(run(collector, etype.name)[1], etype.volatile)
        emulator.inventory.update("virtualmachine", emulator.demo.vms[0]["id"], serviceofferingname="Medium Instance")
        assert strip(run(collector, etype.name)[1], etype.volatile) != before


def strip(entities: list[Entity], volatile: tuple[str, ...]) -> dict[str, Any]:
    """Entities' hashed content with volatile JSON-pointer patterns removed (a small stand-in for the core)."""
    result = {}
    for entity in entities:
        attributes = copy.deepcopy(dict(entity.attributes))
        for pattern in volatile:
            remove(attributes, pattern.strip("/").split("/"))
        result[entity.key] = (entity.name, entity.parent, entity.state, entity.project, attributes)
    return result


def remove(node: Any, parts: list[str]) -> None:
    """Remove the path ``parts`` ('*' = any one segment) from ``node``."""
    head, rest = parts[0], parts[1:]
    children = (range(len(node)) if isinstance(node, list) else list(node)) if head == "*" else [head]
    for child in children:
        if isinstance(node, dict) and child in node:
            if rest:
                remove(node[child], rest)
            else:
                del node[child]
        elif isinstance(node, list) and isinstance(child, int) and rest:
            remove(node[child], rest)
