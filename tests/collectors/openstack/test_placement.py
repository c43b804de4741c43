"""Placement resource providers carry their inventories, traits and aggregates; a capacity
change is an update naming the inventory field; the cost is 1 + 3N API calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from baseline.store import open_store
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator import resources as r
from poller.config import SourceConfig
from poller.run.source import RunSettings, run_source
from tests.collectors.openstack.conftest import run

Make = Callable[..., OpenStackCollector]
TYPE = "placement.resource_provider"


def compute_node(emulator: OpenStackEmulator) -> dict[str, Any]:
    return emulator.cloud.find(TYPE, name="compute-1.example.org")  # type: ignore[return-value]


class TestListing:
    def test_providers_carry_inventories_traits_and_aggregates(self, emulator: OpenStackEmulator,
                                                                make_collector: Make) -> None:
        """Each provider's attributes hold its inventories per resource class, traits and aggregates."""
        listing, items = run(make_collector(), TYPE)
        assert listing.complete, listing.error
        node = next(e for e in items if e.name == "compute-1.example.org")
        assert node.attributes["inventories"]["VCPU"] == {
            "total": 64, "reserved": 0, "min_unit": 1, "max_unit": 64, "step_size": 1, "allocation_ratio": 4.0}
        assert "HW_CPU_X86_AVX2" in node.attributes["traits"]
        assert len(node.attributes["aggregates"]) == 1

    def test_cost_is_one_list_plus_three_calls_per_provider(self, emulator: OpenStackEmulator,
                                                            make_collector: Make) -> None:
        """Listing N providers costs 1 + 3N Placement GETs (there is no bulk call for the details)."""
        collector = make_collector()
        collector.connect()
        emulator.reset_requests()
        run(collector, TYPE)
        placement = [q for q in emulator.requests if q.path.startswith("/placement/resource_providers")]
        providers = emulator.cloud.count(TYPE)
        assert len(placement) == 1 + 3 * providers

    def test_fetch_includes_the_details(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """Re-reading one provider (push events) includes its inventories too."""
        node = compute_node(emulator)
        entity = make_collector().fetch(make_collector().entity_type(TYPE), node["uuid"])
        assert entity is not None and entity.attributes["inventories"]["DISK_GB"]["max_unit"] == 1800


class TestChanges:
    @pytest.fixture
    def poll(self, emulator: OpenStackEmulator, tmp_path: Path) -> Callable[[], list[dict[str, Any]]]:
        store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
        source = SourceConfig(name="os1", collector="openstack", options=emulator.source_options(),
                              entity_types=[TYPE])

        def poll() -> list[dict[str, Any]]:
            with OpenStackCollector("os1", source.options) as collector:
                result = run_source(source, collector, store, RunSettings())
            assert result.status == "ok", result.error
            return [orjson.loads(row.body) for row in store.history(run_id=result.run_id)]
        return poll

    def test_vcpu_total_change_is_an_update_naming_the_field(self, emulator: OpenStackEmulator,
                                                             poll: Callable[[], list[dict[str, Any]]]) -> None:
        """Raising a compute node's VCPU total from 64 to 128 is one update naming /inventories/VCPU/total."""
        poll()
        assert poll() == []  # idle: silent
        node = compute_node(emulator)
        inventories = dict(node["_inventories"], VCPU=r.inventory(128, max_unit=64, allocation_ratio=4.0))
        r.change_provider(emulator.cloud, node["uuid"], inventories=inventories)
        notes = poll()
        assert [(n["action"], n["key"]) for n in notes] == [("update", node["uuid"])]
        assert notes[0]["changes"] == [{"path": "/inventories/VCPU/total", "old": 64, "new": 128}]

    def test_trait_order_and_generation_alone_are_silent(self, emulator: OpenStackEmulator,
                                                         poll: Callable[[], list[dict[str, Any]]]) -> None:
        """Traits and aggregates are sets and the generation is volatile: reordering them is no change."""
        poll()
        node = compute_node(emulator)
        r.change_provider(emulator.cloud, node["uuid"], traits=list(reversed(node["_traits"])))
        assert poll() == []

    def test_trait_added_is_an_update(self, emulator: OpenStackEmulator,
                                      poll: Callable[[], list[dict[str, Any]]]) -> None:
        """Adding a trait (an operator marking a node) is an update of the provider."""
        poll()
        node = compute_node(emulator)
        r.change_provider(emulator.cloud, node["uuid"], traits=[*node["_traits"], "CUSTOM_GOLD"])
        notes = poll()
        assert [n["action"] for n in notes] == ["update"]
        assert any(c["path"].startswith("/traits") for c in notes[0]["changes"])
