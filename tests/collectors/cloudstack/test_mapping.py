"""The pure raw-record -> Entity functions, on hand-written records."""

from __future__ import annotations

import pytest

from collectors.base import ParentRef
from collectors.cloudstack import mapping


class TestMapping:
    def test_empty_strings_become_none(self) -> None:
        """An empty name or state is None, never ""."""
        entity = mapping.zone_entity({"id": "z1", "name": "", "allocationstate": ""})
        assert (entity.name, entity.state) == (None, None)

    def test_id_is_required(self) -> None:
        """A record without an id is a KeyError (required field), not a silent entity."""
        with pytest.raises(KeyError):
            mapping.host_entity({"name": "h"})

    def test_host_scope_pool_under_cluster(self) -> None:
        """A HOST-scope (local) pool with a cluster hangs under that cluster."""
        entity = mapping.storagepool_entity({"id": "p", "scope": "HOST", "clusterid": "c1", "zoneid": "z1"})
        assert entity.parent == ParentRef("cloudstack.cluster", "c1")

    def test_zone_scope_pool_under_zone_even_with_cluster_field(self) -> None:
        """scope ZONE wins over a stray clusterid."""
        entity = mapping.storagepool_entity({"id": "p", "scope": "ZONE", "clusterid": "c1", "zoneid": "z1"})
        assert entity.parent == ParentRef("cloudstack.zone", "z1")

    def test_vm_without_displayname_uses_name(self) -> None:
        """A VM without displayname is named by its name."""
        assert mapping.virtualmachine_entity({"id": "v", "name": "i-2-3-VM", "zoneid": "z"}).name == "i-2-3-VM"

    def test_project_resource_project_is_projectid(self) -> None:
        """project is projectid when present, else the account."""
        assert mapping.volume_entity({"id": "v", "projectid": "p1", "account": "a"}).project == "p1"
        assert mapping.volume_entity({"id": "v", "account": "a"}).project == "a"

    def test_project_entity_is_its_own_project(self) -> None:
        """A project's project is its own id."""
        assert mapping.project_entity({"id": "p1", "name": "web", "domainid": "d"}).project == "p1"

    def test_nested_credentials_are_removed(self) -> None:
        """apikey/secretkey anywhere in an account record are dropped; other fields stay."""
        raw = {"id": "a", "name": "alice", "user": [{"username": "alice", "apikey": "K", "secretkey": "S"}]}
        assert mapping.account_entity(raw).attributes == {"id": "a", "name": "alice", "user": [{"username": "alice"}]}

    def test_mapping_does_not_mutate_its_input(self) -> None:
        """The raw record is left as it was."""
        raw = {"id": "a", "user": [{"apikey": "K"}]}
        mapping.account_entity(raw)
        assert raw == {"id": "a", "user": [{"apikey": "K"}]}

    def test_fold_zones_merges_and_sorts(self) -> None:
        """Per-zone template records fold into one with zones sorted by zone id."""
        rows = [{"id": "t", "name": "u", "zoneid": "z2", "isready": True, "status": "Download Complete"},
                {"id": "t", "name": "u", "zoneid": "z1", "isready": False, "status": "10% Downloaded"}]
        (folded,) = mapping.fold_zones(rows)
        assert folded["name"] == "u" and [z["zoneid"] for z in folded["zones"]] == ["z1", "z2"]
        assert "zoneid" not in folded

    def test_every_type_has_a_mapper(self) -> None:
        """Each declared type maps, with its own type name."""
        from collectors.cloudstack.types import ALL_TYPES
        for etype in ALL_TYPES:
            assert mapping.to_entities(etype.name, [{"id": "x", "zoneid": "z", "podid": "p"}])[0].type == etype.name
