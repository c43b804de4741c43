"""F12 against the CloudStack emulator: offset paging that shifts between pages while the count
stays the same never reports a live VM deleted, because deletions are confirmed with fetch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from baseline.store import Store
from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator, Inventory
from poller.config import SourceConfig
from poller.run.source import RunResult, RunSettings, run_source

Make = Callable[..., CloudStackCollector]
VM = "cloudstack.virtualmachine"
SOURCE = SourceConfig(name="cs1", collector="cloudstack", entity_types=(VM,))


def poll(store: Store, collector: CloudStackCollector, **settings: Any) -> tuple[RunResult, list[tuple[str, str]]]:
    """One run of the VMs of the emulated cloud; returns the result and its (action, key) notifications."""
    result = run_source(SOURCE, collector, store, RunSettings(clock=lambda: datetime.now(UTC), **settings))
    notes = [orjson.loads(r.body) for r in store.history(run_id=result.run_id)]
    return result, sorted((n["action"], n["key"]) for n in notes)


def balanced_shift(emulator: CloudStackEmulator) -> tuple[str, str]:
    """While page 2 is asked for, destroy the first VM (page 1) and deploy one at the end:
    the count stays the same and the third VM slides from page 2 onto the page already read."""
    demo = emulator.demo
    first, slid = emulator.inventory.ids("virtualmachine")[0], emulator.inventory.ids("virtualmachine")[2]

    def shift(inventory: Inventory) -> None:
        inventory.destroy_vm(first)
        inventory.deploy_vm("late", host=demo.hosts[0], template=demo.template, offering=demo.offering,
                            network=demo.network)

    emulator.on_page("listVirtualMachines", 2, shift)
    return first, slid


class TestBalancedPagingShift:
    def test_F12_live_vm_that_slid_to_page_one_is_not_deleted(self, store: Store, make_collector: Make,
                                                              emulator: CloudStackEmulator) -> None:
        """F12: the VM that slid onto page 1 is missing from a complete listing but not reported deleted."""
        poll(store, make_collector(page_size=2))
        first, slid = balanced_shift(emulator)
        result, notes = poll(store, make_collector(page_size=2))
        late = emulator.inventory.ids("virtualmachine")[-1]
        assert result.status == "ok" and result.types[0].status == "complete"
        assert notes == [("create", late)]
        assert result.count("unconfirmed") == 1
        _, notes = poll(store, make_collector(page_size=2))
        assert notes == [("delete", first)]
        assert slid in store.load_hashes("cs1", VM)

    def test_F12_without_confirmation_the_live_vm_is_reported_deleted(self, store: Store, make_collector: Make,
                                                                      emulator: CloudStackEmulator) -> None:
        """F12 control: with confirmation off (confirm_max 0) the same shift reports the live VM deleted."""
        poll(store, make_collector(page_size=2))
        _, slid = balanced_shift(emulator)
        _, notes = poll(store, make_collector(page_size=2), confirm_max=0)
        assert ("delete", slid) in notes and slid in emulator.inventory.ids("virtualmachine")

    def test_destroyed_vm_is_confirmed_gone_and_deleted(self, store: Store, make_collector: Make,
                                                        emulator: CloudStackEmulator) -> None:
        """A VM destroyed between polls is fetched, found gone and deleted in that run."""
        poll(store, make_collector())
        victim = emulator.demo.vms[1]["id"]
        emulator.inventory.destroy_vm(victim)
        _, notes = poll(store, make_collector())
        fetched = [r for r in emulator.requests if r.command == "listVirtualMachines" and "id" in r.params]
        assert notes == [("delete", victim)] and fetched
