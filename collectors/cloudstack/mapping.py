"""Pure functions from CloudStack API records to Entities, one per entity type.

Owns names, parents, states, projects and the attribute payload (the record as the
API sent it, minus credentials; templates and ISOs folded over their zones). Never
does I/O, never reads a clock, never invents a field the API did not send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from collectors.base import Entity, ParentRef
from collectors.cloudstack import types as t

Raw = Mapping[str, Any]

# listAccounts has carried each user's apikey (and, before 4.x hardening, secretkey): never hash or store them.
SECRET_FIELDS = frozenset({"apikey", "secretkey", "password", "privatekey"})
# listTemplates/listIsos answer one record per (template, zone); these fields differ per zone.
ZONE_FIELDS = ("zoneid", "zonename", "status", "isready", "downloaddetails", "physicalsize", "created")


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items() if k.lower() not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _ref(type_name: str, key: Any) -> ParentRef | None:
    return ParentRef(type_name, str(key)) if key else None


def _project(raw: Raw) -> str | None:
    return raw.get("projectid") or raw.get("account") or None


def _entity(etype: str, raw: Raw, *, parent: ParentRef | None = None, name: Any = None, state: Any = None) -> Entity:
    return Entity(
        type=etype,
        key=str(raw["id"]),
        name=(name if name is not None else raw.get("name")) or None,
        parent=parent,
        state=(state if state is not None else raw.get("state")) or None,
        project=_project(raw),
        updated_at=raw.get("lastupdated") or None,
        attributes=_scrub(raw),
    )


def zone_entity(raw: Raw) -> Entity:
    """A zone; its state is its allocation state."""
    return _entity(t.ZONE.name, raw, state=raw.get("allocationstate"))


def pod_entity(raw: Raw) -> Entity:
    """A pod under its zone."""
    return _entity(t.POD.name, raw, parent=_ref(t.ZONE.name, raw["zoneid"]), state=raw.get("allocationstate"))


def cluster_entity(raw: Raw) -> Entity:
    """A cluster under its pod."""
    return _entity(t.CLUSTER.name, raw, parent=_ref(t.POD.name, raw["podid"]), state=raw.get("allocationstate"))


def host_entity(raw: Raw) -> Entity:
    """A host under its cluster; system VM hosts have no cluster and hang under their zone."""
    parent = _ref(t.CLUSTER.name, raw.get("clusterid")) or _ref(t.ZONE.name, raw.get("zoneid"))
    return _entity(t.HOST.name, raw, parent=parent)


def storagepool_entity(raw: Raw) -> Entity:
    """Primary storage under its cluster, or under its zone when its scope is ZONE."""
    if str(raw.get("scope", "")).upper() == "ZONE" or not raw.get("clusterid"):
        parent = _ref(t.ZONE.name, raw.get("zoneid"))
    else:
        parent = _ref(t.CLUSTER.name, raw["clusterid"])
    return _entity(t.STORAGEPOOL.name, raw, parent=parent)


def imagestore_entity(raw: Raw) -> Entity:
    """Secondary storage under its zone (region-wide stores have no parent)."""
    return _entity(t.IMAGESTORE.name, raw, parent=_ref(t.ZONE.name, raw.get("zoneid")))


def _on_host_else_zone(etype: str, raw: Raw, name: Any = None) -> Entity:
    parent = _ref(t.HOST.name, raw.get("hostid")) or _ref(t.ZONE.name, raw.get("zoneid"))
    return _entity(etype, raw, parent=parent, name=name)


def systemvm_entity(raw: Raw) -> Entity:
    """A system VM under the host it runs on, else its zone."""
    return _on_host_else_zone(t.SYSTEMVM.name, raw)


def router_entity(raw: Raw) -> Entity:
    """A virtual router under the host it runs on, else its zone."""
    return _on_host_else_zone(t.ROUTER.name, raw)


def virtualmachine_entity(raw: Raw) -> Entity:
    """A guest VM named by its display name when set, under its host while it has one, else its zone."""
    return _on_host_else_zone(t.VIRTUALMACHINE.name, raw, name=raw.get("displayname") or raw.get("name"))


def volume_entity(raw: Raw) -> Entity:
    """A volume under the VM it is attached to, else its zone."""
    parent = _ref(t.VIRTUALMACHINE.name, raw.get("virtualmachineid")) or _ref(t.ZONE.name, raw.get("zoneid"))
    return _entity(t.VOLUME.name, raw, parent=parent)


def snapshot_entity(raw: Raw) -> Entity:
    """A snapshot under its volume."""
    return _entity(t.SNAPSHOT.name, raw, parent=_ref(t.VOLUME.name, raw.get("volumeid")))


def _in_zone(etype: str) -> Callable[[Raw], Entity]:
    def mapper(raw: Raw) -> Entity:
        return _entity(etype, raw, parent=_ref(t.ZONE.name, raw.get("zoneid")))

    mapper.__doc__ = f"A {etype} under its zone."
    return mapper


network_entity = _in_zone(t.NETWORK.name)
vpc_entity = _in_zone(t.VPC.name)


def publicipaddress_entity(raw: Raw) -> Entity:
    """A public IP, named by its address, under its zone."""
    return _entity(t.PUBLICIPADDRESS.name, raw, parent=_ref(t.ZONE.name, raw.get("zoneid")), name=raw.get("ipaddress"))


def _plain(etype: str) -> Callable[[Raw], Entity]:
    def mapper(raw: Raw) -> Entity:
        return _entity(etype, raw)

    mapper.__doc__ = f"A {etype}, without a parent."
    return mapper


serviceoffering_entity = _plain(t.SERVICEOFFERING.name)
diskoffering_entity = _plain(t.DISKOFFERING.name)
networkoffering_entity = _plain(t.NETWORKOFFERING.name)
securitygroup_entity = _plain(t.SECURITYGROUP.name)


def domain_entity(raw: Raw) -> Entity:
    """A domain under its parent domain (ROOT has none)."""
    return _entity(t.DOMAIN.name, raw, parent=_ref(t.DOMAIN.name, raw.get("parentdomainid")))


def account_entity(raw: Raw) -> Entity:
    """An account under its domain; its users' API keys are dropped."""
    return _entity(t.ACCOUNT.name, raw, parent=_ref(t.DOMAIN.name, raw.get("domainid")))


def project_entity(raw: Raw) -> Entity:
    """A project under its domain; its own id is its project."""
    entity = _entity(t.PROJECT.name, raw, parent=_ref(t.DOMAIN.name, raw.get("domainid")))
    return Entity(entity.type, entity.key, entity.name, entity.parent, entity.state, str(raw["id"]),
                  entity.updated_at, entity.attributes)


def fold_zones(records: Iterable[Raw]) -> list[dict[str, Any]]:
    """Merge per-zone template/ISO records into one record per id with a ``zones`` list sorted by zone id."""
    merged: dict[str, dict[str, Any]] = {}
    for raw in records:
        key = str(raw["id"])
        common = {k: v for k, v in raw.items() if k not in ZONE_FIELDS}
        zone = {k: raw[k] for k in ZONE_FIELDS if k in raw}
        target = merged.setdefault(key, {**common, "zones": []})
        target["zones"].append(zone)
    for record in merged.values():
        record["zones"].sort(key=lambda z: str(z.get("zoneid", "")))
    return list(merged.values())


def template_entity(raw: Raw) -> Entity:
    """A template folded over its zones (see ``fold_zones``)."""
    return _entity(t.TEMPLATE.name, raw)


def iso_entity(raw: Raw) -> Entity:
    """An ISO folded over its zones (see ``fold_zones``)."""
    return _entity(t.ISO.name, raw)


MAPPERS: dict[str, Callable[[Raw], Entity]] = {
    t.ZONE.name: zone_entity, t.POD.name: pod_entity, t.CLUSTER.name: cluster_entity, t.HOST.name: host_entity,
    t.STORAGEPOOL.name: storagepool_entity, t.IMAGESTORE.name: imagestore_entity,
    t.SYSTEMVM.name: systemvm_entity, t.ROUTER.name: router_entity,
    t.VIRTUALMACHINE.name: virtualmachine_entity, t.VOLUME.name: volume_entity, t.SNAPSHOT.name: snapshot_entity,
    t.NETWORK.name: network_entity, t.VPC.name: vpc_entity, t.PUBLICIPADDRESS.name: publicipaddress_entity,
    t.TEMPLATE.name: template_entity, t.ISO.name: iso_entity, t.SERVICEOFFERING.name: serviceoffering_entity,
    t.DISKOFFERING.name: diskoffering_entity, t.NETWORKOFFERING.name: networkoffering_entity,
    t.DOMAIN.name: domain_entity, t.ACCOUNT.name: account_entity, t.PROJECT.name: project_entity,
    t.SECURITYGROUP.name: securitygroup_entity,
}
ZONE_FOLDED = frozenset({t.TEMPLATE.name, t.ISO.name})


def to_entities(etype: str, records: Iterable[Raw]) -> list[Entity]:
    """Map the raw records of one complete listing of ``etype`` to Entities (folding zones where needed)."""
    mapper = MAPPERS[etype]
    rows: Iterable[Raw] = fold_zones(records) if etype in ZONE_FOLDED else records
    return [mapper(raw) for raw in rows]
