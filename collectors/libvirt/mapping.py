"""Pure mapping from libvirt records (plain values read by connection.py) to Entity.

Owns the record shapes and one pure function per entity type: no libvirt import, no
I/O, no clock. It must never put a secret's value, or anything computed client-side,
into an entity's attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors.base import Entity, ParentRef
from collectors.libvirt import types

# libvirt's virDomainState, virStoragePoolState and virSecretUsageType enums, by value.
DOMAIN_STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")
POOL_STATES = ("inactive", "building", "running", "degraded", "inaccessible")
SECRET_USAGE_TYPES = ("none", "volume", "ceph", "iscsi", "tls", "vtpm")


@dataclass(frozen=True, slots=True)
class HostRecord:
    """What libvirt says about the node: getHostname, getType, getVersion, getLibVersion, getInfo, caps."""

    hostname: str
    hypervisor: str
    hypervisor_version: int | None
    libvirt_version: int
    node_info: tuple[Any, ...]
    capabilities_xml: str
    free_memory: int | None


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """One domain: identity, state (virDomainState), autostart, persistence and its XML."""

    uuid: str
    name: str
    state: int
    autostart: bool
    persistent: bool
    xml: str


@dataclass(frozen=True, slots=True)
class NetworkRecord:
    """One virtual network and its XML."""

    uuid: str
    name: str
    active: bool
    autostart: bool
    persistent: bool
    xml: str


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """One storage pool: state (virStoragePoolState) and its XML."""

    uuid: str
    name: str
    state: int
    autostart: bool
    persistent: bool
    xml: str


@dataclass(frozen=True, slots=True)
class VolumeRecord:
    """One storage volume, the UUID of its pool and its XML."""

    key: str
    name: str
    pool_uuid: str
    xml: str


@dataclass(frozen=True, slots=True)
class InterfaceRecord:
    """One host interface (libvirt names it uniquely) and its XML."""

    name: str
    active: bool
    xml: str


@dataclass(frozen=True, slots=True)
class NWFilterRecord:
    """One network filter and its XML."""

    uuid: str
    name: str
    xml: str


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """One secret's metadata: never its value (connection.py never asks for it)."""

    uuid: str
    usage_type: int
    usage_id: str | None


def version_string(version: int | None) -> str | None:
    """Render libvirt's packed version number (major * 1e6 + minor * 1e3 + micro) as 'major.minor.micro'."""
    if version is None or version <= 0:
        return None
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"


def xml_to_dict(xml: str, root: str) -> dict[str, Any]:
    """Turn one libvirt XML document into JSON-able data with xmltodict, returning the ``root`` element.

    Attributes become ``@name`` keys and text beside attributes ``#text`` (xmltodict's
    defaults); empty elements become None. Every child of a domain's ``<devices>`` is
    always a list, so one disk and two disks have the same shape.
    """
    import xmltodict  # optional dependency (the [libvirt] extra); checked by connection.load_libvirt

    parsed = xmltodict.parse(xml, force_list=_force_device_lists, disable_entities=True)
    element = parsed[root]
    return element if isinstance(element, dict) else {}


def _force_device_lists(path: list[tuple[str, Any]], key: str, _value: Any) -> bool:
    return len(path) == 2 and path[0][0] == "domain" and path[1][0] == "devices" and key[:1] not in ("@", "#")


def host_entity(raw: HostRecord) -> Entity:
    """Map the node to a ``libvirt.host`` entity keyed by its hostname."""
    caps_host = xml_to_dict(raw.capabilities_xml, "capabilities").get("host") or {}
    info = raw.node_info
    attributes = {
        "hostname": raw.hostname,
        "hypervisor": raw.hypervisor,
        "hypervisor_version": version_string(raw.hypervisor_version),
        "libvirt_version": version_string(raw.libvirt_version),
        # virNodeInfo: model, memory (MiB), cpus, mhz, NUMA nodes, sockets per node, cores, threads
        "node_info": {
            "model": info[0],
            "memory_mib": info[1],
            "cpus": info[2],
            "mhz": info[3],
            "numa_nodes": info[4],
            "sockets_per_node": info[5],
            "cores_per_socket": info[6],
            "threads_per_core": info[7],
        },
        "uuid": caps_host.get("uuid"),
        "cpu": caps_host.get("cpu"),
        "free_memory": raw.free_memory,
    }
    return Entity(type=types.HOST.name, key=raw.hostname, name=raw.hostname, attributes=attributes)


def domain_entity(raw: DomainRecord, host: str) -> Entity:
    """Map a domain to a ``libvirt.domain`` entity keyed by UUID, parented to the host."""
    definition = _without_autoport_ports(xml_to_dict(raw.xml, "domain"))
    return Entity(
        type=types.DOMAIN.name,
        key=raw.uuid,
        name=raw.name,
        parent=ParentRef(types.HOST.name, host),
        state=_enum_name(DOMAIN_STATES, raw.state),
        attributes={"definition": definition, "autostart": raw.autostart, "persistent": raw.persistent},
    )


def network_entity(raw: NetworkRecord, host: str) -> Entity:
    """Map a virtual network to a ``libvirt.network`` entity keyed by UUID."""
    return Entity(
        type=types.NETWORK.name,
        key=raw.uuid,
        name=raw.name,
        parent=ParentRef(types.HOST.name, host),
        state="active" if raw.active else "inactive",
        attributes={
            "definition": xml_to_dict(raw.xml, "network"),
            "autostart": raw.autostart,
            "persistent": raw.persistent,
        },
    )


def pool_entity(raw: PoolRecord, host: str) -> Entity:
    """Map a storage pool to a ``libvirt.storage_pool`` entity keyed by UUID."""
    return Entity(
        type=types.STORAGE_POOL.name,
        key=raw.uuid,
        name=raw.name,
        parent=ParentRef(types.HOST.name, host),
        state=_enum_name(POOL_STATES, raw.state),
        attributes={
            "definition": xml_to_dict(raw.xml, "pool"),
            "autostart": raw.autostart,
            "persistent": raw.persistent,
        },
    )


def volume_entity(raw: VolumeRecord) -> Entity:
    """Map a storage volume to a ``libvirt.storage_volume`` entity keyed by its volume key, parented to its pool."""
    return Entity(
        type=types.STORAGE_VOLUME.name,
        key=raw.key,
        name=raw.name,
        parent=ParentRef(types.STORAGE_POOL.name, raw.pool_uuid),
        attributes={"definition": xml_to_dict(raw.xml, "volume")},
    )


def interface_entity(raw: InterfaceRecord, host: str) -> Entity:
    """Map a host interface to a ``libvirt.interface`` entity keyed by its name."""
    return Entity(
        type=types.INTERFACE.name,
        key=raw.name,
        name=raw.name,
        parent=ParentRef(types.HOST.name, host),
        state="active" if raw.active else "inactive",
        attributes={"definition": xml_to_dict(raw.xml, "interface")},
    )


def nwfilter_entity(raw: NWFilterRecord, host: str) -> Entity:
    """Map a network filter to a ``libvirt.nwfilter`` entity keyed by UUID."""
    return Entity(
        type=types.NWFILTER.name,
        key=raw.uuid,
        name=raw.name,
        parent=ParentRef(types.HOST.name, host),
        attributes={"definition": xml_to_dict(raw.xml, "filter")},
    )


def secret_entity(raw: SecretRecord, host: str) -> Entity:
    """Map a secret to a ``libvirt.secret`` entity carrying its usage type and usage id only."""
    usage_type = _enum_name(SECRET_USAGE_TYPES, raw.usage_type)
    return Entity(
        type=types.SECRET.name,
        key=raw.uuid,
        name=raw.usage_id or None,
        parent=ParentRef(types.HOST.name, host),
        attributes={"usage_type": usage_type, "usage_id": raw.usage_id or None},
    )


def _enum_name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else str(value)


def _without_autoport_ports(definition: dict[str, Any]) -> dict[str, Any]:
    """Drop the ports libvirt assigns at start to graphics with autoport='yes'.

    The inactive definition carries no real port for them (``-1`` or nothing), the live
    XML carries whatever was free at start: configuration they are not. Static ports stay.
    """
    devices = definition.get("devices")
    if not isinstance(devices, Mapping):
        return definition
    for graphics in devices.get("graphics") or ():
        if isinstance(graphics, dict) and graphics.get("@autoport") == "yes":
            for attribute in ("@port", "@tlsPort", "@websocket"):
                graphics.pop(attribute, None)
    return definition
