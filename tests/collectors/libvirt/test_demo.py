"""The demo helpers: the default test node, a seeded node file, and the scripted changes ``poller demo`` applies."""

from __future__ import annotations

from pathlib import Path

from collectors.libvirt import LibvirtCollector, apply_demo_changes, demo_source_options, seed_demo
from collectors.libvirt import types as lvtypes

from .conftest import hashed_view, listed

WEB01 = "d3e0c1a4-5b6f-4c2a-9e8d-000000000001"
WEB02 = "d3e0c1a4-5b6f-4c2a-9e8d-000000000002"
BATCH01 = "d3e0c1a4-5b6f-4c2a-9e8d-000000000004"


class TestDemo:
    def test_default_options_list_the_built_in_node(self) -> None:
        """demo_source_options() (test:///default) lists the test driver's built-in domain."""
        assert demo_source_options() == {"uri": "test:///default"}
        domains = listed(LibvirtCollector("demo", demo_source_options()), "libvirt.domain")
        assert [domain.name for domain in domains.values()] == ["test"]

    def test_seeded_node_lists_four_domains(self, tmp_path: Path) -> None:
        """The seeded demo node lists its four pinned domains."""
        collector = LibvirtCollector("demo", demo_source_options(seed_demo(tmp_path)))
        assert len(listed(collector, "libvirt.domain")) == 4
        assert len(listed(collector, "libvirt.storage_volume")) == 2

    def test_scripted_changes_show_exactly(self, tmp_path: Path) -> None:
        """After apply_demo_changes: web-01 updated, batch-01 started, web-02 gone, volumes and pools unchanged."""
        collector = LibvirtCollector("demo", demo_source_options(seed_demo(tmp_path)))
        kinds = {"libvirt.domain": lvtypes.DOMAIN, "libvirt.storage_pool": lvtypes.STORAGE_POOL}
        kinds["libvirt.storage_volume"] = lvtypes.STORAGE_VOLUME
        before = {name: listed(collector, name) for name in kinds}
        done = apply_demo_changes(Path(collector.uri.removeprefix("test://")))
        after = {name: listed(collector, name) for name in kinds}
        assert len(done) == 4
        changed = {
            (name, key)
            for name, etype in kinds.items()
            for key in before[name]
            if key not in after[name] or hashed_view(before[name][key], etype) != hashed_view(after[name][key], etype)
        }
        assert changed == {("libvirt.domain", WEB01), ("libvirt.domain", BATCH01), ("libvirt.domain", WEB02)}
        assert WEB02 not in after["libvirt.domain"]
        assert after["libvirt.domain"][BATCH01].state == "running"
