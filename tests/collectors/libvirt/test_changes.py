"""Rewriting the test-driver node between listings: updates show, deletes show, runtime-only changes hash the same."""

from __future__ import annotations

from collectors.libvirt import types as lvtypes

from .conftest import Node, hashed_view, listed
from .test_listing import CACHE1, DB1, NET_DEFAULT, POOL_IMAGES, WEB1

NEW_DOMAIN = """  <domain type="test">
    <name>new1</name>
    <uuid>6b1b1b7e-0000-4000-8000-000000000009</uuid>
    <memory unit="KiB">262144</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
"""


class TestIdle:
    def test_unchanged_node_lists_identical_entities(self, node: Node) -> None:
        """Two listings of an unchanged node yield exactly the same entities (nothing random leaks in)."""
        for type_name in ("libvirt.host", "libvirt.domain", "libvirt.network", "libvirt.storage_pool"):
            first = listed(node.collector(), type_name)
            second = listed(node.collector(), type_name)
            assert first == second, type_name

    def test_one_collector_sees_rewrites(self, node: Node) -> None:
        """A long-lived collector opens a connection per listing, so it sees the node file change."""
        collector = node.collector()
        assert listed(collector, "libvirt.domain")[WEB1].attributes["definition"]["vcpu"]["#text"] == "2"
        node.replace("<vcpu>2</vcpu>", "<vcpu>6</vcpu>")
        assert listed(collector, "libvirt.domain")[WEB1].attributes["definition"]["vcpu"]["#text"] == "6"


class TestUpdates:
    def test_domain_memory_change(self, node: Node) -> None:
        """A domain's memory change shows at /definition/memory/#text."""
        before = listed(node.collector(), "libvirt.domain")[WEB1]
        node.replace('<memory unit="KiB">1048576</memory>', '<memory unit="KiB">2097152</memory>')
        after = listed(node.collector(), "libvirt.domain")[WEB1]
        assert before.attributes["definition"]["memory"]["#text"] == "1048576"
        assert after.attributes["definition"]["memory"]["#text"] == "2097152"
        assert hashed_view(before, lvtypes.DOMAIN) != hashed_view(after, lvtypes.DOMAIN)

    def test_domain_vcpu_change(self, node: Node) -> None:
        """A domain's vCPU count change shows at /definition/vcpu/#text and only there."""
        before = listed(node.collector(), "libvirt.domain")[DB1]
        node.replace("<vcpu>4</vcpu>", "<vcpu>8</vcpu>")
        after = listed(node.collector(), "libvirt.domain")[DB1]
        assert after.attributes["definition"]["vcpu"]["#text"] == "8"
        before_def = dict(before.attributes["definition"], vcpu=None)
        after_def = dict(after.attributes["definition"], vcpu=None)
        assert before_def == after_def

    def test_network_bridge_change(self, node: Node) -> None:
        """A network's bridge change shows at /definition/bridge/@name."""
        before = listed(node.collector(), "libvirt.network")[NET_DEFAULT]
        node.replace('<bridge name="virbr0"/>', '<bridge name="br-nat0"/>')
        after = listed(node.collector(), "libvirt.network")[NET_DEFAULT]
        assert before.attributes["definition"]["bridge"]["@name"] == "virbr0"
        assert after.attributes["definition"]["bridge"]["@name"] == "br-nat0"
        assert hashed_view(before, lvtypes.NETWORK) != hashed_view(after, lvtypes.NETWORK)

    def test_domain_started_is_a_state_change(self, node: Node) -> None:
        """A shut-off domain that starts changes its hashed state."""
        before = listed(node.collector(), "libvirt.domain")[DB1]
        node.replace("<test:runstate>5</test:runstate>", "<test:runstate>1</test:runstate>")
        after = listed(node.collector(), "libvirt.domain")[DB1]
        assert (before.state, after.state) == ("shutoff", "running")
        assert hashed_view(before, lvtypes.DOMAIN) != hashed_view(after, lvtypes.DOMAIN)

    def test_static_graphics_port_change_shows(self, node: Node) -> None:
        """A changed static VNC port is a configuration change and shows."""
        before = listed(node.collector(), "libvirt.domain")[DB1]
        node.replace('port="5911"', 'port="5912"')
        after = listed(node.collector(), "libvirt.domain")[DB1]
        assert hashed_view(before, lvtypes.DOMAIN) != hashed_view(after, lvtypes.DOMAIN)


class TestCreatesAndDeletes:
    def test_new_domain_appears(self, node: Node) -> None:
        """A domain added to the node is in the next listing."""
        node.replace("  <network>\n    <name>default</name>", NEW_DOMAIN + "  <network>\n    <name>default</name>")
        domains = listed(node.collector(), "libvirt.domain")
        assert "6b1b1b7e-0000-4000-8000-000000000009" in domains
        assert domains["6b1b1b7e-0000-4000-8000-000000000009"].name == "new1"

    def test_removed_domain_missing_from_complete_listing(self, node: Node) -> None:
        """A domain removed from the node is absent from the next listing, which is complete."""
        text = node.path.read_text()
        start = text.index('  <domain type="test">\n    <name>cache1</name>')
        end = text.index("</domain>", start) + len("</domain>\n")
        node.path.write_text(text[:start] + text[end:])
        domains = listed(node.collector(), "libvirt.domain")
        assert set(domains) == {WEB1, DB1}
        assert CACHE1 not in domains

    def test_removed_volume_missing(self, node: Node) -> None:
        """A volume removed from its pool is absent from the next volume listing."""
        text = node.path.read_text()
        start = text.index('    <volume type="file">\n      <name>db1.qcow2</name>')
        end = text.index("</volume>", start) + len("</volume>\n")
        node.path.write_text(text[:start] + text[end:])
        volumes = listed(node.collector(), "libvirt.storage_volume")
        assert "/var/lib/libvirt/images/db1.qcow2" not in volumes
        assert "/var/lib/libvirt/images/web1.qcow2" in volumes


class TestRuntimeOnlyChanges:
    def test_volume_allocation_growth_hashes_the_same(self, node: Node) -> None:
        """A volume filling up changes allocation (volume and pool) but neither hashed view."""
        pool_before = listed(node.collector(), "libvirt.storage_pool")[POOL_IMAGES]
        vol_before = listed(node.collector(), "libvirt.storage_volume")["/var/lib/libvirt/images/web1.qcow2"]
        node.replace("<allocation>2147483648</allocation>", "<allocation>4294967296</allocation>")
        pool_after = listed(node.collector(), "libvirt.storage_pool")[POOL_IMAGES]
        vol_after = listed(node.collector(), "libvirt.storage_volume")["/var/lib/libvirt/images/web1.qcow2"]
        assert pool_before.attributes != pool_after.attributes  # the raw payload did move
        assert vol_before.attributes != vol_after.attributes
        assert hashed_view(pool_before, lvtypes.STORAGE_POOL) == hashed_view(pool_after, lvtypes.STORAGE_POOL)
        assert hashed_view(vol_before, lvtypes.STORAGE_VOLUME) == hashed_view(vol_after, lvtypes.STORAGE_VOLUME)

    def test_running_domain_id_change_hashes_the_same_in_live_mode(self, node: Node) -> None:
        """In live_xml mode a renumbered running domain (new id) hashes the same."""
        before = listed(node.collector(live_xml=True), "libvirt.domain")[WEB1]
        running = NEW_DOMAIN.replace("</domain>", "<test:runstate>1</test:runstate></domain>")
        web1_start = '  <domain type="test">\n    <name>web1</name>'
        node.replace(web1_start, running + web1_start)
        after = listed(node.collector(live_xml=True), "libvirt.domain")[WEB1]
        assert before.attributes["definition"]["@id"] != after.attributes["definition"]["@id"]
        assert hashed_view(before, lvtypes.DOMAIN) == hashed_view(after, lvtypes.DOMAIN)

    def test_unrelated_domain_change_leaves_others_alone(self, node: Node) -> None:
        """Changing one domain leaves every other domain's hashed view identical."""
        before = listed(node.collector(), "libvirt.domain")
        node.replace("<vcpu>4</vcpu>", "<vcpu>8</vcpu>")
        after = listed(node.collector(), "libvirt.domain")
        for key in (WEB1, CACHE1):
            assert hashed_view(before[key], lvtypes.DOMAIN) == hashed_view(after[key], lvtypes.DOMAIN)
