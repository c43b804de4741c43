"""Pure mapping of raw OpenStack API records (the JSON bodies, as the API sent them) to Entities.

One function per entity type: the key is the resource id, ``name``/``state``/
``project`` come from the record, the parent from its reference field, and the
attributes are the record itself (the resource body only: nothing the SDK adds on
the client side). Required fields are read with ``raw[...]``, optional ones with
``.get()``; an empty string becomes ``None``. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collectors.base import Entity, ParentRef

Raw = Mapping[str, Any]


def _text(value: Any) -> str | None:
    """A field as entity text: ``None`` for absent or empty values, ``str`` otherwise."""
    if value is None or value == "":
        return None
    return str(value)


def _parent(etype: str, key: Any) -> ParentRef | None:
    text = _text(key)
    return ParentRef(etype, text) if text is not None else None


def _entity(etype: str, raw: Raw, key: Any, *, name: Any = None, state: Any = None, project: Any = None,
            parent: ParentRef | None = None, updated_at: Any = None) -> Entity:
    text_key = _text(key)
    if text_key is None:
        raise KeyError(f"{etype} record without an id")
    return Entity(type=etype, key=text_key, name=_text(name), parent=parent, state=_text(state),
                  project=_text(project), updated_at=_text(updated_at), attributes=dict(raw))


# -- identity -----------------------------------------------------------------------------
def domain_entity(raw: Raw) -> Entity:
    return _entity("identity.domain", raw, raw["id"], name=raw.get("name"),
                   state="enabled" if raw.get("enabled", True) else "disabled")


def project_entity(raw: Raw) -> Entity:
    return _entity("identity.project", raw, raw["id"], name=raw.get("name"), project=raw["id"],
                   state="enabled" if raw.get("enabled", True) else "disabled",
                   parent=_parent("identity.domain", raw.get("domain_id")))


def user_entity(raw: Raw) -> Entity:
    return _entity("identity.user", raw, raw["id"], name=raw.get("name"), project=raw.get("default_project_id"),
                   state="enabled" if raw.get("enabled", True) else "disabled",
                   parent=_parent("identity.domain", raw.get("domain_id")))


# -- compute --------------------------------------------------------------------------------
def server_entity(raw: Raw, hypervisors: Mapping[str, str] | None = None) -> Entity:
    """A Nova server; its parent is the hypervisor whose hostname the admin attribute names.

    ``hypervisors`` maps hypervisor hostnames to hypervisor ids; without a match
    (non-admin credentials, a host unknown yet) the server has no parent.
    """
    host = raw.get("OS-EXT-SRV-ATTR:hypervisor_hostname")
    parent = None
    if host and hypervisors and host in hypervisors:
        parent = ParentRef("compute.hypervisor", hypervisors[host])
    return _entity("compute.server", raw, raw["id"], name=raw.get("name"), state=raw.get("status"),
                   project=raw.get("tenant_id") or raw.get("project_id"), parent=parent,
                   updated_at=raw.get("updated"))


def flavor_entity(raw: Raw) -> Entity:
    public = raw.get("os-flavor-access:is_public", True)
    return _entity("compute.flavor", raw, raw["id"], name=raw.get("name"),
                   state="disabled" if raw.get("OS-FLV-DISABLED:disabled") else ("public" if public else "private"))


def hypervisor_entity(raw: Raw) -> Entity:
    return _entity("compute.hypervisor", raw, raw["id"], name=raw.get("hypervisor_hostname"),
                   state=raw.get("state"))


def service_entity(raw: Raw) -> Entity:
    return _entity("compute.service", raw, raw["id"], name=f"{raw['binary']}@{raw['host']}", state=raw.get("state"))


def aggregate_entity(raw: Raw) -> Entity:
    return _entity("compute.aggregate", raw, raw["id"], name=raw.get("name"), updated_at=raw.get("updated_at"))


def keypair_entity(raw: Raw) -> Entity:
    """A keypair as listed (``{"keypair": {...}}`` items are unwrapped first); its key is its name."""
    body = raw.get("keypair", raw)
    return _entity("compute.keypair", body, body["name"], name=body["name"], state=body.get("type"))


# -- image -----------------------------------------------------------------------------------
def image_entity(raw: Raw) -> Entity:
    return _entity("image.image", raw, raw["id"], name=raw.get("name"), state=raw.get("status"),
                   project=raw.get("owner"), parent=_parent("identity.project", raw.get("owner")),
                   updated_at=raw.get("updated_at"))


# -- network ---------------------------------------------------------------------------------
def _neutron(etype: str, raw: Raw, *, name: Any = None, parent: ParentRef | None = None) -> Entity:
    return _entity(etype, raw, raw["id"], name=name if name is not None else raw.get("name"),
                   state=raw.get("status"), project=raw.get("project_id") or raw.get("tenant_id"), parent=parent,
                   updated_at=raw.get("updated_at"))


def network_entity(raw: Raw) -> Entity:
    return _neutron("network.network", raw)


def subnet_entity(raw: Raw) -> Entity:
    return _neutron("network.subnet", raw, parent=_parent("network.network", raw.get("network_id")))


def port_entity(raw: Raw) -> Entity:
    return _neutron("network.port", raw, parent=_parent("network.network", raw.get("network_id")))


def router_entity(raw: Raw) -> Entity:
    return _neutron("network.router", raw)


def floating_ip_entity(raw: Raw) -> Entity:
    return _neutron("network.floating_ip", raw, name=raw.get("floating_ip_address"))


def security_group_entity(raw: Raw) -> Entity:
    return _neutron("network.security_group", raw)


# -- block storage -----------------------------------------------------------------------------
def volume_entity(raw: Raw) -> Entity:
    """A Cinder volume; its parent is the server of its first attachment, if any."""
    attachments = raw.get("attachments") or []
    servers = sorted(str(a["server_id"]) for a in attachments if a.get("server_id"))
    return _entity("block_storage.volume", raw, raw["id"], name=raw.get("name"), state=raw.get("status"),
                   project=raw.get("os-vol-tenant-attr:tenant_id"),
                   parent=_parent("compute.server", servers[0] if servers else None),
                   updated_at=raw.get("updated_at"))


def snapshot_entity(raw: Raw) -> Entity:
    return _entity("block_storage.snapshot", raw, raw["id"], name=raw.get("name"), state=raw.get("status"),
                   project=raw.get("os-extended-snapshot-attributes:project_id"),
                   parent=_parent("block_storage.volume", raw.get("volume_id")), updated_at=raw.get("updated_at"))


# -- placement, orchestration -------------------------------------------------------------------
def resource_provider_entity(raw: Raw) -> Entity:
    return _entity("placement.resource_provider", raw, raw["uuid"], name=raw.get("name"),
                   parent=_parent("placement.resource_provider", raw.get("parent_provider_uuid")))


def stack_entity(raw: Raw) -> Entity:
    return _entity("orchestration.stack", raw, raw["id"], name=raw.get("stack_name"), state=raw.get("stack_status"),
                   project=raw.get("project"), updated_at=raw.get("updated_time") or raw.get("creation_time"))


MAPPERS: dict[str, Callable[[Raw], Entity]] = {
    "identity.domain": domain_entity, "identity.project": project_entity, "identity.user": user_entity,
    "compute.server": server_entity, "compute.flavor": flavor_entity, "compute.hypervisor": hypervisor_entity,
    "compute.service": service_entity, "compute.aggregate": aggregate_entity, "compute.keypair": keypair_entity,
    "image.image": image_entity,
    "network.network": network_entity, "network.subnet": subnet_entity, "network.port": port_entity,
    "network.router": router_entity, "network.floating_ip": floating_ip_entity,
    "network.security_group": security_group_entity,
    "block_storage.volume": volume_entity, "block_storage.snapshot": snapshot_entity,
    "placement.resource_provider": resource_provider_entity, "orchestration.stack": stack_entity,
}
