"""CloudStack event-bus messages -> the (entity type, key) pairs they are about.

Owns the mapping of action events (``event``, ``entity``, ``entityuuid``, ``status``;
``entity`` is a Java interface name such as ``com.cloud.vm.VirtualMachine`` on older
releases and a resource type such as ``VirtualMachine`` on newer ones) and resource
state-change events (``resource``, ``id``, ``old-state``, ``new-state``), as published
by ActionEventUtils and the state listeners of apache/cloudstack. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collectors.cloudstack import types as t

RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "VirtualMachine": (t.VIRTUALMACHINE.name,),
    "UserVm": (t.VIRTUALMACHINE.name,),
    "DomainRouter": (t.ROUTER.name,),
    "SystemVm": (t.SYSTEMVM.name,),
    "ConsoleProxy": (t.SYSTEMVM.name,),
    "SecondaryStorageVm": (t.SYSTEMVM.name,),
    "Volume": (t.VOLUME.name,),
    "Snapshot": (t.SNAPSHOT.name,),
    "Network": (t.NETWORK.name,),
    "Vpc": (t.VPC.name,),
    "IpAddress": (t.PUBLICIPADDRESS.name,),
    "PublicIpAddress": (t.PUBLICIPADDRESS.name,),
    "Host": (t.HOST.name,),
    "Cluster": (t.CLUSTER.name,),
    "Pod": (t.POD.name,),
    "DataCenter": (t.ZONE.name,),
    "Zone": (t.ZONE.name,),
    "StoragePool": (t.STORAGEPOOL.name,),
    "ImageStore": (t.IMAGESTORE.name,),
    "VirtualMachineTemplate": (t.TEMPLATE.name, t.ISO.name),
    "Template": (t.TEMPLATE.name,),
    "Iso": (t.ISO.name,),
    "ServiceOffering": (t.SERVICEOFFERING.name,),
    "DiskOffering": (t.DISKOFFERING.name,),
    "NetworkOffering": (t.NETWORKOFFERING.name,),
    "Domain": (t.DOMAIN.name,),
    "Account": (t.ACCOUNT.name,),
    "Project": (t.PROJECT.name,),
    "SecurityGroup": (t.SECURITYGROUP.name,),
}
# Router and system VM actions are published with the VirtualMachine entity; the event name tells them apart.
EVENT_PREFIXES = {"ROUTER.": (t.ROUTER.name,), "SSVM.": (t.SYSTEMVM.name,), "PROXY.": (t.SYSTEMVM.name,)}
SETTLED = {"completed", "failed", "created"}


def _description(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's description object: the message itself, or its ``description`` (object or JSON string)."""
    inner = event.get("description")
    if isinstance(inner, str) and inner.lstrip().startswith("{"):
        try:
            parsed = json.loads(inner)
        except ValueError:
            return event
        return parsed if isinstance(parsed, Mapping) else event
    if isinstance(inner, Mapping):
        return inner
    return event


def _types_for(resource: str, event_name: str) -> tuple[str, ...]:
    short = resource.rsplit(".", 1)[-1]
    for prefix, types in EVENT_PREFIXES.items():
        if event_name.upper().startswith(prefix):
            return types
    return RESOURCE_TYPES.get(short, ())


def translate(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (type, key) pairs an event names; [] for unknown kinds and not-yet-settled action events."""
    body = _description(event)
    if "new-state" in body or "old-state" in body:
        resource, key = str(body.get("resource") or event.get("resourceType") or ""), body.get("id")
        return [(etype, str(key)) for etype in _types_for(resource, "")] if key else []
    entity = str(body.get("entity") or event.get("resourceType") or "")
    key = body.get("entityuuid") or event.get("resourceUUID")
    status = str(body.get("status", "Completed")).lower()
    if not entity or not key or status not in SETTLED:
        return []
    return [(etype, str(key)) for etype in _types_for(entity, str(body.get("event", "")))]
