"""The libvirt collector against libvirt's own test driver: every type, its keys, parents, states and attributes."""

from __future__ import annotations

from collectors.libvirt import LibvirtCollector
from collectors.libvirt import types as lvtypes

from .conftest import Node, listed, run_listing

WEB1 = "6b1b1b7e-0000-4000-8000-000000000001"
DB1 = "6b1b1b7e-0000-4000-8000-000000000002"
CACHE1 = "6b1b1b7e-0000-4000-8000-000000000003"
NET_DEFAULT = "6b1b1b7e-0000-4000-8000-0000000000a1"
NET_STORAGE = "6b1b1b7e-0000-4000-8000-0000000000a2"
POOL_IMAGES = "6b1b1b7e-0000-4000-8000-0000000000b1"
POOL_ISO = "6b1b1b7e-0000-4000-8000-0000000000b2"


class TestHost:
    def test_one_host_with_node_info(self, node: Node) -> None:
        """The node is one libvirt.host with the CPU topology and memory of the node XML."""
        hosts = listed(node.collector(), "libvirt.host")
        assert len(hosts) == 1
        (host,) = hosts.values()
        info = host.attributes["node_info"]
        assert (info["cpus"], info["mhz"], info["sockets_per_node"], info["cores_per_socket"]) == (8, 2400, 2, 2)
        assert info["memory_mib"] == 16777216 // 1024
        assert host.attributes["hypervisor"] == "TEST"
        assert host.attributes["libvirt_version"].count(".") == 2

    def test_host_key_is_hostname(self, node: Node) -> None:
        """The host's key and name are the hostname libvirt reports."""
        (host,) = listed(node.collector(), "libvirt.host").values()
        assert host.key == host.name == host.attributes["hostname"]
        assert host.key


class TestDomains:
    def test_every_domain_keyed_by_uuid(self, node: Node) -> None:
        """Running, paused and shut-off domains are all listed, keyed by UUID."""
        domains = listed(node.collector(), "libvirt.domain")
        assert set(domains) == {WEB1, DB1, CACHE1}
        assert domains[WEB1].name == "web1"

    def test_state_from_domain_state(self, node: Node) -> None:
        """The entity state is libvirt's domain state by name."""
        domains = listed(node.collector(), "libvirt.domain")
        assert (domains[WEB1].state, domains[DB1].state, domains[CACHE1].state) == ("running", "shutoff", "paused")

    def test_parent_is_the_host(self, node: Node) -> None:
        """Every domain's parent is the libvirt.host entity of the same source."""
        collector = node.collector()
        (host_key,) = listed(collector, "libvirt.host")
        for domain in listed(collector, "libvirt.domain").values():
            assert domain.parent is not None
            assert (domain.parent.type, domain.parent.key) == ("libvirt.host", host_key)

    def test_definition_autostart_persistent(self, node: Node) -> None:
        """Attributes hold the XML definition as JSON plus autostart and persistent."""
        web1 = listed(node.collector(), "libvirt.domain")[WEB1]
        definition = web1.attributes["definition"]
        assert definition["uuid"] == WEB1
        assert definition["memory"] == {"@unit": "KiB", "#text": "1048576"}
        assert definition["vcpu"]["#text"] == "2"
        assert web1.attributes["autostart"] is False
        assert web1.attributes["persistent"] is True

    def test_inactive_definition_has_no_domain_id(self, node: Node) -> None:
        """By default the definition is the inactive XML: a running domain's id is not in it."""
        web1 = listed(node.collector(), "libvirt.domain")[WEB1]
        assert "@id" not in web1.attributes["definition"]

    def test_live_xml_option_lists_live_definition(self, node: Node) -> None:
        """With live_xml the running domain's live XML, id included, is listed."""
        web1 = listed(node.collector(live_xml=True), "libvirt.domain")[WEB1]
        assert web1.attributes["definition"]["@id"].isdigit()

    def test_devices_are_always_lists(self, node: Node) -> None:
        """Every kind of device is a list, even when the domain has one of it."""
        devices = listed(node.collector(), "libvirt.domain")[WEB1].attributes["definition"]["devices"]
        assert isinstance(devices["interface"], list) and len(devices["interface"]) == 1
        assert devices["interface"][0]["mac"] == {"@address": "52:54:00:00:00:01"}

    def test_autoport_graphics_port_dropped_static_port_kept(self, node: Node) -> None:
        """An autoport graphics port is not part of the definition; a static port is."""
        domains = listed(node.collector(live_xml=True), "libvirt.domain")
        assert "@port" not in domains[WEB1].attributes["definition"]["devices"]["graphics"][0]
        assert domains[DB1].attributes["definition"]["devices"]["graphics"][0]["@port"] == "5911"


class TestNetworksPoolsVolumesInterfaces:
    def test_networks(self, node: Node) -> None:
        """Networks are keyed by UUID, parented to the host, with their bridge in the definition."""
        networks = listed(node.collector(), "libvirt.network")
        assert set(networks) == {NET_DEFAULT, NET_STORAGE}
        default = networks[NET_DEFAULT]
        assert default.name == "default" and default.state == "active"
        assert default.parent is not None and default.parent.type == "libvirt.host"
        assert default.attributes["definition"]["bridge"]["@name"] == "virbr0"
        assert default.attributes["persistent"] is True

    def test_storage_pools(self, node: Node) -> None:
        """Pools are keyed by UUID with their state and target path."""
        pools = listed(node.collector(), "libvirt.storage_pool")
        assert set(pools) == {POOL_IMAGES, POOL_ISO}
        assert pools[POOL_IMAGES].state == "running"
        assert pools[POOL_IMAGES].attributes["definition"]["target"]["path"] == "/var/lib/libvirt/images"

    def test_storage_volumes_keyed_by_volume_key_parent_pool(self, node: Node) -> None:
        """Volumes are keyed by the volume key and parented to their pool's UUID."""
        volumes = listed(node.collector(), "libvirt.storage_volume")
        assert set(volumes) == {
            "/var/lib/libvirt/images/web1.qcow2",
            "/var/lib/libvirt/images/db1.qcow2",
            "/var/lib/libvirt/iso/debian-12.iso",
        }
        iso = volumes["/var/lib/libvirt/iso/debian-12.iso"]
        assert iso.parent is not None and (iso.parent.type, iso.parent.key) == ("libvirt.storage_pool", POOL_ISO)
        assert iso.attributes["definition"]["target"]["format"] == {"@type": "raw"}

    def test_interfaces_keyed_by_name(self, node: Node) -> None:
        """Host interfaces are keyed by name, with their MAC in the definition."""
        interfaces = listed(node.collector(), "libvirt.interface")
        assert set(interfaces) == {"eth1"}
        assert interfaces["eth1"].attributes["definition"]["mac"] == {"@address": "52:54:00:bb:00:01"}


class TestUnsupportedTypes:
    def test_nwfilter_unavailable_on_test_driver(self, node: Node) -> None:
        """The test driver has no nwfilters: the type is skipped (unavailable), not failed."""
        listing, entities = run_listing(node.collector(), "libvirt.nwfilter")
        assert entities == {}
        assert listing.unavailable is not None and listing.error is None
        assert "not supported" in str(listing.unavailable)

    def test_secret_unavailable_on_test_driver(self, node: Node) -> None:
        """The test driver has no secrets: the type is skipped (unavailable), not failed."""
        listing, _ = run_listing(node.collector(), "libvirt.secret")
        assert listing.unavailable is not None and listing.error is None


class TestDeclarations:
    def test_entity_types_and_parents(self) -> None:
        """The collector declares the eight libvirt types with their parents."""
        parents = {etype.name: etype.parent for etype in LibvirtCollector.entity_types}
        assert parents == {
            "libvirt.host": None,
            "libvirt.domain": "libvirt.host",
            "libvirt.network": "libvirt.host",
            "libvirt.storage_pool": "libvirt.host",
            "libvirt.storage_volume": "libvirt.storage_pool",
            "libvirt.interface": "libvirt.host",
            "libvirt.nwfilter": "libvirt.host",
            "libvirt.secret": "libvirt.host",
        }

    def test_volatile_defaults(self) -> None:
        """Host free memory, pool/volume allocation and the running domain id are volatile by default."""
        assert "/free_memory" in lvtypes.HOST.volatile
        assert {"/definition/allocation", "/definition/available"} <= set(lvtypes.STORAGE_POOL.volatile)
        assert "/definition/allocation" in lvtypes.STORAGE_VOLUME.volatile
        assert "/definition/@id" in lvtypes.DOMAIN.volatile
