"""The entity types of the libvirt collector and their default volatile paths.

Declarations only: no libvirt import, no I/O. Attribute layouts (``/definition/...``)
are produced by ``collectors.libvirt.mapping``; the two modules change together.
"""

from __future__ import annotations

from collectors.base import EntityType

# Bump when the attribute layout produced by mapping.py changes shape.
FINGERPRINT = "libvirt-xmltodict-1"

HOST = EntityType(
    "libvirt.host",
    # getFreeMemory moves constantly; on Linux getInfo()'s MHz is the *current* frequency
    # of the first CPU (read from /proc/cpuinfo), which moves with frequency scaling.
    volatile=("/free_memory", "/node_info/mhz"),
    fingerprint=FINGERPRINT,
    description="The hypervisor node: hostname, node info, CPU, memory, libvirt and hypervisor versions.",
)

DOMAIN = EntityType(
    "libvirt.domain",
    parent="libvirt.host",
    # Only present in live XML (options.live_xml or a driver that refuses the INACTIVE flag):
    # the running domain id, the tap device and pty paths assigned at start, the dynamic
    # security labels. Auto-assigned graphics ports are dropped by the mapping itself
    # (only where autoport='yes'), so a changed static port still shows.
    volatile=(
        "/definition/@id",
        "/definition/devices/interface/*/target/@dev",
        "/definition/devices/serial/*/source/@path",
        "/definition/devices/console/*/source/@path",
        "/definition/devices/console/*/@tty",
        "/definition/seclabel/label",
        "/definition/seclabel/imagelabel",
        "/definition/seclabel/*/label",
        "/definition/seclabel/*/imagelabel",
    ),
    fingerprint=FINGERPRINT,
    description="A virtual machine or container (key: UUID); attributes: its XML definition, autostart, persistent.",
)

NETWORK = EntityType(
    "libvirt.network",
    parent="libvirt.host",
    volatile=("/definition/@connections",),
    fingerprint=FINGERPRINT,
    description="A virtual network (key: UUID); attributes: its XML definition, autostart, persistent.",
)

STORAGE_POOL = EntityType(
    "libvirt.storage_pool",
    parent="libvirt.host",
    volatile=("/definition/allocation", "/definition/available"),
    fingerprint=FINGERPRINT,
    description="A storage pool (key: UUID); attributes: its XML definition, autostart, persistent.",
)

STORAGE_VOLUME = EntityType(
    "libvirt.storage_volume",
    parent="libvirt.storage_pool",
    volatile=("/definition/allocation", "/definition/physical", "/definition/target/timestamps"),
    fingerprint=FINGERPRINT,
    description="A volume of an active storage pool (key: the volume key); attributes: its XML description.",
)

INTERFACE = EntityType(
    "libvirt.interface",
    parent="libvirt.host",
    fingerprint=FINGERPRINT,
    description="A host network interface managed by libvirt (key: its name); attributes: its XML definition.",
)

NWFILTER = EntityType(
    "libvirt.nwfilter",
    parent="libvirt.host",
    fingerprint=FINGERPRINT,
    description="A network filter (key: UUID); attributes: its XML definition.",
)

SECRET = EntityType(
    "libvirt.secret",
    parent="libvirt.host",
    fingerprint=FINGERPRINT,
    description="A secret's metadata only (key: UUID): usage type and usage id, never its value.",
)

ALL_TYPES: tuple[EntityType, ...] = (
    HOST,
    DOMAIN,
    NETWORK,
    STORAGE_POOL,
    STORAGE_VOLUME,
    INTERFACE,
    NWFILTER,
    SECRET,
)
