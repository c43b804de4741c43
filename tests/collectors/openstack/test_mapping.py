"""The pure raw-record -> Entity mappings: keys, names, states, projects, parents."""

from __future__ import annotations

from collectors.base import ParentRef
from collectors.openstack import mapping as m


class TestMapping:
    """One behaviour per mapping rule, on hand-written API records."""

    def test_server_parent_from_hypervisor_hostname(self) -> None:
        """A server's parent is the hypervisor whose hostname its admin attribute names."""
        raw = {"id": "s1", "name": "web", "status": "ACTIVE", "tenant_id": "p1", "updated": "2024-01-01T00:00:00Z",
               "OS-EXT-SRV-ATTR:hypervisor_hostname": "cmp1"}
        entity = m.server_entity(raw, {"cmp1": "h-uuid"})
        assert entity.parent == ParentRef("compute.hypervisor", "h-uuid")
        assert (entity.key, entity.name, entity.state, entity.project) == ("s1", "web", "ACTIVE", "p1")
        assert entity.updated_at == "2024-01-01T00:00:00Z"

    def test_server_without_admin_attribute(self) -> None:
        """Without the admin attribute (or an unknown host) a server has no parent."""
        assert m.server_entity({"id": "s1", "status": "ACTIVE"}, {"cmp1": "h"}).parent is None
        assert m.server_entity({"id": "s1", "OS-EXT-SRV-ATTR:hypervisor_hostname": "x"}, {}).parent is None

    def test_empty_name_is_none(self) -> None:
        """An empty name becomes None, never an empty string."""
        assert m.port_entity({"id": "p", "name": "", "network_id": "n"}).name is None

    def test_attributes_are_the_record(self) -> None:
        """Attributes are the record itself, unchanged."""
        raw = {"id": "n", "name": "net", "tags": ["b", "a"], "router:external": True}
        assert dict(m.network_entity(raw).attributes) == raw

    def test_volume_parent_is_attached_server(self) -> None:
        """A volume hangs under the server of its attachment; unattached, under nothing."""
        attached = {"id": "v", "status": "in-use", "attachments": [{"server_id": "s9"}],
                    "os-vol-tenant-attr:tenant_id": "p"}
        assert m.volume_entity(attached).parent == ParentRef("compute.server", "s9")
        assert m.volume_entity({"id": "v", "attachments": []}).parent is None
        assert m.volume_entity(attached).project == "p"

    def test_keypair_unwrapped_and_keyed_by_name(self) -> None:
        """Listed keypairs come wrapped in {"keypair": ...}; the key is the name."""
        entity = m.keypair_entity({"keypair": {"name": "k1", "type": "ssh", "public_key": "x", "fingerprint": "f"}})
        assert (entity.key, entity.name, entity.state) == ("k1", "k1", "ssh")
        assert "keypair" not in entity.attributes

    def test_image_parent_is_owner(self) -> None:
        """An image hangs under its owner project."""
        entity = m.image_entity({"id": "i", "owner": "p1", "status": "active"})
        assert entity.parent == ParentRef("identity.project", "p1") and entity.project == "p1"

    def test_resource_provider_keyed_by_uuid(self) -> None:
        """Resource providers are keyed by uuid and nest under their parent provider."""
        entity = m.resource_provider_entity({"uuid": "u2", "name": "pci", "parent_provider_uuid": "u1"})
        assert entity.key == "u2" and entity.parent == ParentRef("placement.resource_provider", "u1")

    def test_service_name(self) -> None:
        """A compute service is named binary@host."""
        entity = m.service_entity({"id": "x", "binary": "nova-compute", "host": "cmp1", "state": "up"})
        assert (entity.name, entity.state) == ("nova-compute@cmp1", "up")

    def test_integer_id_becomes_text(self) -> None:
        """Aggregates have integer ids; keys are text."""
        assert m.aggregate_entity({"id": 7, "name": "ssd"}).key == "7"

    def test_every_type_has_a_mapper(self) -> None:
        """Each declared type has a mapping function."""
        from collectors.openstack.types import ALL
        assert sorted(m.MAPPERS) == sorted(t.name for t in ALL)
