"""The pure mapping functions, on XML and records a real libvirt would produce but the test driver cannot."""

from __future__ import annotations

from dataclasses import replace

from collectors.libvirt import mapping
from collectors.libvirt import types as lvtypes

from .conftest import hashed_view

LIVE_DOMAIN = """<domain type='kvm' id='{id}'>
  <name>vm1</name>
  <uuid>0b8e4a2c-0000-4000-8000-000000000001</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <devices>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <target dev='vnet{id}'/>
    </interface>
    <serial type='pty'><source path='/dev/pts/{id}'/><target port='0'/></serial>
    <graphics type='spice' port='{port}' tlsPort='{tls}' autoport='yes' listen='127.0.0.1'/>
  </devices>
  <seclabel type='dynamic' model='selinux' relabel='yes'>
    <label>system_u:system_r:svirt_t:s0:c{id},c9</label>
    <imagelabel>system_u:object_r:svirt_image_t:s0:c{id},c9</imagelabel>
  </seclabel>
</domain>"""

CAPS = """<capabilities><host><uuid>44454c4c-0000-1000-8000-000000000000</uuid>
<cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model><vendor>Intel</vendor>
<topology sockets='1' dies='1' cores='4' threads='2'/></cpu></host></capabilities>"""


def live_domain(run: int) -> mapping.DomainRecord:
    xml = LIVE_DOMAIN.format(id=run, port=5900 + run, tls=5950 + run)
    return mapping.DomainRecord("0b8e4a2c-0000-4000-8000-000000000001", "vm1", 1, True, True, xml)


def host_record(free_memory: int, mhz: int) -> mapping.HostRecord:
    info = ("x86_64", 31906, 8, mhz, 1, 1, 4, 2)
    return mapping.HostRecord("kvm1.example", "QEMU", 7002000, 9000000, info, CAPS, free_memory)


class TestDomainMapping:
    def test_restarted_domain_live_xml_hashes_the_same(self) -> None:
        """Live XML after a restart (new id, tap, pty, labels, autoport ports) hashes the same."""
        first, second = mapping.domain_entity(live_domain(3), "kvm1"), mapping.domain_entity(live_domain(4), "kvm1")
        assert first.attributes != second.attributes
        assert hashed_view(first, lvtypes.DOMAIN) == hashed_view(second, lvtypes.DOMAIN)

    def test_autoport_graphics_keeps_its_other_settings(self) -> None:
        """Dropping autoport ports keeps the graphics type and listen address."""
        graphics = mapping.domain_entity(live_domain(3), "kvm1").attributes["definition"]["devices"]["graphics"]
        assert graphics == [{"@type": "spice", "@autoport": "yes", "@listen": "127.0.0.1"}]

    def test_memory_change_shows_in_live_xml(self) -> None:
        """A real configuration change still shows through the volatile paths."""
        changed = replace(live_domain(3), xml=live_domain(3).xml.replace("1048576", "2097152"))
        base = mapping.domain_entity(live_domain(3), "kvm1")
        assert hashed_view(base, lvtypes.DOMAIN) != hashed_view(mapping.domain_entity(changed, "kvm1"), lvtypes.DOMAIN)

    def test_unknown_state_number_kept_as_text(self) -> None:
        """A state number newer than this mapping is kept as its number, not dropped."""
        record = mapping.DomainRecord("u", "n", 42, False, False, "<domain><name>n</name></domain>")
        assert mapping.domain_entity(record, "h").state == "42"


class TestHostMapping:
    def test_host_attributes(self) -> None:
        """The host carries versions, node info, the caps CPU model and topology and the host UUID."""
        host = mapping.host_entity(host_record(1 << 30, 3400))
        assert host.key == "kvm1.example"
        assert host.attributes["hypervisor_version"] == "7.2.0"
        assert host.attributes["libvirt_version"] == "9.0.0"
        assert host.attributes["cpu"]["model"] == "Skylake-Client-IBRS"
        assert host.attributes["cpu"]["topology"]["@cores"] == "4"
        assert host.attributes["uuid"] == "44454c4c-0000-1000-8000-000000000000"

    def test_free_memory_and_cpu_frequency_are_volatile(self) -> None:
        """Free memory and the current CPU frequency move without a change: same hashed view."""
        first = mapping.host_entity(host_record(1 << 30, 3400))
        second = mapping.host_entity(host_record(3 << 30, 1200))
        assert hashed_view(first, lvtypes.HOST) == hashed_view(second, lvtypes.HOST)


class TestSecretMapping:
    def test_secret_has_usage_only(self) -> None:
        """A secret maps to its usage type and id, nothing else."""
        secret = mapping.secret_entity(mapping.SecretRecord("5f2c-uuid", 2, "client.admin secret"), "kvm1")
        assert dict(secret.attributes) == {"usage_type": "ceph", "usage_id": "client.admin secret"}
        assert secret.key == "5f2c-uuid" and secret.name == "client.admin secret"

    def test_secret_without_usage_id(self) -> None:
        """An empty usage id is None, never an empty string."""
        secret = mapping.secret_entity(mapping.SecretRecord("u", 0, ""), "kvm1")
        assert secret.attributes["usage_id"] is None and secret.name is None


class TestVersions:
    def test_version_string(self) -> None:
        """libvirt's packed version numbers render as major.minor.micro; 0 means unknown."""
        assert mapping.version_string(9000000) == "9.0.0"
        assert mapping.version_string(10010003) == "10.10.3"
        assert mapping.version_string(0) is None
