"""Builders of realistic records for the emulated cloud, one per resource kind.

Each ``add_*`` fills the fields a real deployment returns (ids, timestamps, the
``OS-EXT-*`` admin attributes, Neutron's revision numbers) from a few arguments
and stores the record in a :class:`Cloud`. Never speaks HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from typing import Any

from collectors.openstack.emulator.cloud import Cloud, iso

_mac_counter = itertools.count(1)


def _mac() -> str:
    n = next(_mac_counter)
    return f"fa:16:3e:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"


def add_domain(cloud: Cloud, name: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"id": extra.pop("id", None) or uuid.uuid4().hex, "name": name, "description": "",
              "enabled": True, "tags": [], "options": {}}
    record.update(extra)
    return cloud.add("identity.domain", record)


def add_project(cloud: Cloud, name: str, domain_id: str = "default", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"id": extra.pop("id", None) or uuid.uuid4().hex, "name": name, "domain_id": domain_id,
              "description": "", "enabled": True, "is_domain": False, "parent_id": domain_id,
              "tags": [], "options": {}}
    record.update(extra)
    return cloud.add("identity.project", record)


def add_user(cloud: Cloud, name: str, password: str, domain_id: str = "default",
             project_id: str | None = None, roles: tuple[str, ...] = ("member",), **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"id": extra.pop("id", None) or uuid.uuid4().hex, "name": name, "domain_id": domain_id,
              "enabled": True, "password_expires_at": None, "options": {},
              "default_project_id": project_id}
    record.update(extra)
    cloud.add("identity.user", record)
    cloud.passwords[record["id"]] = password
    cloud.roles[record["id"]] = list(roles)
    return record


def add_flavor(cloud: Cloud, name: str, vcpus: int, ram: int, disk: int, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"id": extra.pop("id", None) or str(uuid.uuid4()), "name": name, "vcpus": vcpus, "ram": ram,
              "disk": disk, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
              "os-flavor-access:is_public": True, "OS-FLV-DISABLED:disabled": False,
              "description": None, "extra_specs": {}}
    record.update(extra)
    return cloud.add("compute.flavor", record)


def add_hypervisor(cloud: Cloud, hostname: str, vcpus: int = 32, memory_mb: int = 131072,
                   local_gb: int = 1000, **extra: Any) -> dict[str, Any]:
    service = add_compute_service(cloud, "nova-compute", hostname)
    record = {"id": str(uuid.uuid4()), "hypervisor_hostname": hostname, "hypervisor_type": "QEMU",
              "hypervisor_version": 8002000, "host_ip": f"192.0.2.{cloud.count('compute.hypervisor') + 10}",
              "state": "up", "status": "enabled", "vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb,
              "cpu_info": {"arch": "x86_64", "model": "Cascadelake-Server", "vendor": "Intel",
                           "topology": {"cores": vcpus // 2, "threads": 2, "sockets": 1},
                           "features": ["avx", "avx2", "sse4.2", "vmx"]},
              "service": {"host": hostname, "id": service["id"], "disabled_reason": None}}
    record.update(extra)
    return cloud.add("compute.hypervisor", record)


def add_compute_service(cloud: Cloud, binary: str, host: str, zone: str = "nova") -> dict[str, Any]:
    record = {"id": str(uuid.uuid4()), "binary": binary, "host": host,
              "zone": "internal" if binary != "nova-compute" else zone, "status": "enabled",
              "state": "up", "disabled_reason": None, "forced_down": False, "updated_at": None}
    return cloud.add("compute.service", record)


def add_aggregate(cloud: Cloud, name: str, hosts: list[str], zone: str | None = None, **meta: str) -> dict[str, Any]:
    n = cloud.count("compute.aggregate") + 1
    metadata = dict(meta)
    if zone:
        metadata["availability_zone"] = zone
    record = {"id": n, "uuid": str(uuid.uuid4()), "name": name, "availability_zone": zone, "hosts": list(hosts),
              "metadata": metadata, "deleted": False, "deleted_at": None}
    return cloud.add("compute.aggregate", record)


def add_keypair(cloud: Cloud, name: str, user_id: str) -> dict[str, Any]:
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    record = {"name": name, "type": "ssh", "user_id": user_id,
              "public_key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{digest} {name}",
              "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2))}
    return cloud.add("compute.keypair", record, key_field="name")


def add_image(cloud: Cloud, name: str, owner: str, visibility: str = "public", **extra: Any) -> dict[str, Any]:
    record = {"id": str(uuid.uuid4()), "name": name, "status": "active", "visibility": visibility,
              "owner": owner, "protected": False, "os_hidden": False, "checksum": uuid.uuid4().hex,
              "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(name.encode()).hexdigest(),
              "size": 21430272, "virtual_size": 117440512, "min_disk": 0, "min_ram": 0,
              "disk_format": "qcow2", "container_format": "bare", "tags": [],
              "os_distro": name.split("-")[0].lower()}
    record.update(extra)
    return cloud.add("image.image", record)


def add_network(cloud: Cloud, name: str, project_id: str, external: bool = False, **extra: Any) -> dict[str, Any]:
    record = {"id": str(uuid.uuid4()), "name": name, "tenant_id": project_id, "project_id": project_id,
              "admin_state_up": True, "status": "ACTIVE", "shared": external, "router:external": external,
              "subnets": [], "mtu": 1450, "availability_zone_hints": [], "availability_zones": ["nova"],
              "ipv4_address_scope": None, "ipv6_address_scope": None, "port_security_enabled": True,
              "provider:network_type": "flat" if external else "geneve",
              "provider:physical_network": "public" if external else None,
              "provider:segmentation_id": None if external else 100 + cloud.count("network.network"),
              "description": "", "tags": [], "revision_number": 1, "is_default": external}
    record.update(extra)
    return cloud.add("network.network", record)


def add_subnet(cloud: Cloud, network: dict[str, Any], cidr: str, name: str = "", **extra: Any) -> dict[str, Any]:
    prefix = cidr.rsplit(".", 1)[0]
    record = {"id": str(uuid.uuid4()), "name": name or f"{network['name']}-subnet", "network_id": network["id"],
              "tenant_id": network["tenant_id"], "project_id": network["project_id"], "ip_version": 4,
              "cidr": cidr, "gateway_ip": f"{prefix}.1", "enable_dhcp": True,
              "allocation_pools": [{"start": f"{prefix}.2", "end": f"{prefix}.254"}],
              "dns_nameservers": ["192.0.2.53"], "host_routes": [], "service_types": [], "subnetpool_id": None,
              "ipv6_address_mode": None, "ipv6_ra_mode": None, "description": "", "tags": [],
              "revision_number": 0}
    record.update(extra)
    cloud.add("network.subnet", record)
    cloud.update("network.network", network["id"], subnets=network["subnets"] + [record["id"]])
    return record


def add_port(cloud: Cloud, network: dict[str, Any], subnet: dict[str, Any], ip: str, device_owner: str = "",
             device_id: str = "", project_id: str | None = None, **extra: Any) -> dict[str, Any]:
    project = project_id or network["project_id"]
    record = {"id": str(uuid.uuid4()), "name": "", "network_id": network["id"], "tenant_id": project,
              "project_id": project, "mac_address": _mac(), "admin_state_up": True,
              "status": "ACTIVE" if device_id else "DOWN", "device_id": device_id, "device_owner": device_owner,
              "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": ip}], "allowed_address_pairs": [],
              "extra_dhcp_opts": [], "security_groups": [], "binding:vnic_type": "normal",
              "binding:host_id": "", "binding:vif_type": "ovs" if device_id else "unbound",
              "binding:vif_details": {}, "binding:profile": {}, "port_security_enabled": True,
              "dns_name": "", "dns_assignment": [], "description": "", "tags": [], "revision_number": 1}
    record.update(extra)
    return cloud.add("network.port", record)


def add_router(cloud: Cloud, name: str, project_id: str, external: dict[str, Any] | None = None,
               external_ip: str | None = None) -> dict[str, Any]:
    gateway = None
    if external is not None:
        gateway = {"network_id": external["id"], "enable_snat": True,
                   "external_fixed_ips": [{"subnet_id": external["subnets"][0] if external["subnets"] else None,
                                           "ip_address": external_ip}]}
    record = {"id": str(uuid.uuid4()), "name": name, "tenant_id": project_id, "project_id": project_id,
              "admin_state_up": True, "status": "ACTIVE", "external_gateway_info": gateway, "routes": [],
              "distributed": False, "ha": False, "availability_zone_hints": [], "availability_zones": ["nova"],
              "flavor_id": None, "description": "", "tags": [], "revision_number": 1}
    return cloud.add("network.router", record)


def add_floating_ip(cloud: Cloud, external: dict[str, Any], address: str, project_id: str,
                    port: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {"id": str(uuid.uuid4()), "floating_ip_address": address, "floating_network_id": external["id"],
              "tenant_id": project_id, "project_id": project_id, "router_id": None,
              "port_id": port["id"] if port else None,
              "fixed_ip_address": port["fixed_ips"][0]["ip_address"] if port else None,
              "status": "ACTIVE" if port else "DOWN", "port_details": None, "dns_domain": "", "dns_name": "",
              "qos_policy_id": None, "description": "", "tags": [], "revision_number": 0}
    return cloud.add("network.floating_ip", record)


def security_rule(group_id: str, project_id: str, direction: str, protocol: str | None = None,
                  port: int | None = None, remote: str | None = None, ethertype: str = "IPv4") -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "security_group_id": group_id, "tenant_id": project_id,
            "project_id": project_id, "direction": direction, "ethertype": ethertype, "protocol": protocol,
            "port_range_min": port, "port_range_max": port, "remote_ip_prefix": remote, "remote_group_id": None,
            "remote_address_group_id": None, "normalized_cidr": remote, "description": "", "tags": [],
            "revision_number": 0, "created_at": None, "updated_at": None, "belongs_to_default_sg": False}


def add_security_group(cloud: Cloud, name: str, project_id: str, ingress: tuple[int, ...] = ()) -> dict[str, Any]:
    group_id = str(uuid.uuid4())
    rules = [security_rule(group_id, project_id, "egress"),
             security_rule(group_id, project_id, "egress", ethertype="IPv6")]
    rules += [security_rule(group_id, project_id, "ingress", "tcp", p, "0.0.0.0/0") for p in ingress]
    record = {"id": group_id, "name": name, "tenant_id": project_id, "project_id": project_id,
              "description": "", "stateful": True, "shared": False, "security_group_rules": rules,
              "tags": [], "revision_number": 1}
    return cloud.add("network.security_group", record)


def add_server(cloud: Cloud, name: str, project_id: str, user_id: str, flavor: dict[str, Any],
               image: dict[str, Any] | None, hypervisor: dict[str, Any], network: dict[str, Any] | None = None,
               ip: str | None = None, key_name: str | None = None, status: str = "ACTIVE",
               **extra: Any) -> dict[str, Any]:
    server_id = extra.pop("id", None) or str(uuid.uuid4())
    host = hypervisor["hypervisor_hostname"]
    addresses: dict[str, list[dict[str, Any]]] = {}
    if network is not None and ip is not None:
        addresses[network["name"]] = [{"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": _mac()}]
    record = {"id": server_id, "name": name, "status": status, "tenant_id": project_id, "user_id": user_id,
              "metadata": {}, "hostId": hashlib.sha224((project_id + host).encode()).hexdigest(),
              "image": {"id": image["id"]} if image else "", "_flavor": flavor_snapshot(flavor),
              "addresses": addresses, "accessIPv4": "", "accessIPv6": "", "OS-DCF:diskConfig": "MANUAL",
              "progress": 0, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": key_name,
              "OS-SRV-USG:launched_at": iso(cloud.clock()), "OS-SRV-USG:terminated_at": None,
              "OS-EXT-SRV-ATTR:host": host, "OS-EXT-SRV-ATTR:hypervisor_hostname": host,
              "OS-EXT-SRV-ATTR:instance_name": "instance-%08x" % (cloud.count("compute.server") + 1),
              "OS-EXT-STS:task_state": None,
              "OS-EXT-STS:vm_state": status.lower() if status != "SHUTOFF" else "stopped",
              "OS-EXT-STS:power_state": 1 if status == "ACTIVE" else 4,
              "os-extended-volumes:volumes_attached": [], "security_groups": [{"name": "default"}],
              "tags": [], "locked": False, "description": None, "host_status": "UP"}
    record.update(extra)
    return cloud.add("compute.server", record)


def flavor_snapshot(flavor: dict[str, Any]) -> dict[str, Any]:
    """What a server keeps of its flavor (Nova embeds this copy from microversion 2.47)."""
    return {"id": flavor["id"], "original_name": flavor["name"], "vcpus": flavor["vcpus"], "ram": flavor["ram"],
            "disk": flavor["disk"], "ephemeral": flavor["OS-FLV-EXT-DATA:ephemeral"], "swap": flavor["swap"],
            "extra_specs": dict(flavor["extra_specs"])}


def resize_server(cloud: Cloud, server_id: str, flavor: dict[str, Any]) -> dict[str, Any]:
    """Move a server to another flavor, as a confirmed resize does."""
    return cloud.update("compute.server", server_id, _flavor=flavor_snapshot(flavor))


def add_volume(cloud: Cloud, name: str, project_id: str, size: int, server: dict[str, Any] | None = None,
               bootable: bool = False, **extra: Any) -> dict[str, Any]:
    volume_id = str(uuid.uuid4())
    attachments = []
    if server is not None:
        attachments = [{"id": volume_id, "attachment_id": str(uuid.uuid4()), "volume_id": volume_id,
                        "server_id": server["id"], "host_name": None, "device": "/dev/vdb",
                        "attached_at": iso(cloud.clock())}]
    record: dict[str, Any] = {"id": volume_id, "name": name, "status": "in-use" if server else "available", "size": size,
              "availability_zone": "nova", "bootable": str(bootable).lower(), "encrypted": False,
              "multiattach": False, "volume_type": "lvmdriver-1", "snapshot_id": None, "source_volid": None,
              "description": None, "metadata": {}, "attachments": attachments, "replication_status": None,
              "consistencygroup_id": None, "user_id": None, "os-vol-tenant-attr:tenant_id": project_id,
              "os-vol-host-attr:host": "block1@lvmdriver-1#lvmdriver-1",
              "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None}
    record.update(extra)
    record["id"] = volume_id
    cloud.add("block_storage.volume", record)
    if server is not None:
        attached = server["os-extended-volumes:volumes_attached"] + [{"id": volume_id,
                                                                     "delete_on_termination": False}]
        cloud.update("compute.server", server["id"], **{"os-extended-volumes:volumes_attached": attached})
    return record


def add_snapshot(cloud: Cloud, volume: dict[str, Any], name: str) -> dict[str, Any]:
    record = {"id": str(uuid.uuid4()), "name": name, "volume_id": volume["id"], "status": "available",
              "size": volume["size"], "description": None, "metadata": {}, "progress": "100%",
              "os-extended-snapshot-attributes:project_id": volume["os-vol-tenant-attr:tenant_id"],
              "os-extended-snapshot-attributes:progress": "100%"}
    return cloud.add("block_storage.snapshot", record)


def inventory(total: int, *, reserved: int = 0, min_unit: int = 1, max_unit: int | None = None,
              step_size: int = 1, allocation_ratio: float = 1.0) -> dict[str, Any]:
    """One Placement inventory record (GET /resource_providers/{uuid}/inventories shape)."""
    return {"total": total, "reserved": reserved, "min_unit": min_unit,
            "max_unit": total if max_unit is None else max_unit, "step_size": step_size,
            "allocation_ratio": allocation_ratio}


def add_resource_provider(cloud: Cloud, name: str, parent: dict[str, Any] | None = None,
                          uuid_: str | None = None, inventories: dict[str, dict[str, Any]] | None = None,
                          traits: list[str] | None = None, aggregates: list[str] | None = None) -> dict[str, Any]:
    """A provider; its inventories, traits and aggregates are private fields served by their own routes."""
    rp_id = uuid_ or str(uuid.uuid4())
    record = {"uuid": rp_id, "name": name, "generation": 1,
              "parent_provider_uuid": parent["uuid"] if parent else None,
              "root_provider_uuid": parent["root_provider_uuid"] if parent else rp_id,
              "_inventories": dict(inventories or {}), "_traits": list(traits or []),
              "_aggregates": list(aggregates or [])}
    return cloud.add("placement.resource_provider", record, key_field="uuid")


def change_provider(cloud: Cloud, rp_uuid: str, *, inventories: dict[str, dict[str, Any]] | None = None,
                    traits: list[str] | None = None, aggregates: list[str] | None = None) -> dict[str, Any]:
    """Replace a provider's inventories, traits or aggregates, bumping its generation as Placement does."""
    record = cloud.get("placement.resource_provider", rp_uuid)
    if record is None:
        raise KeyError(rp_uuid)
    fields: dict[str, Any] = {"generation": record["generation"] + 1}
    for name, value in (("_inventories", inventories), ("_traits", traits), ("_aggregates", aggregates)):
        if value is not None:
            fields[name] = value
    return cloud.update("placement.resource_provider", rp_uuid, **fields)


def add_stack(cloud: Cloud, name: str, project_id: str, status: str = "CREATE_COMPLETE") -> dict[str, Any]:
    record: dict[str, Any] = {"id": str(uuid.uuid4()), "stack_name": name, "stack_status": status,
              "stack_status_reason": "Stack CREATE completed successfully", "description": "",
              "project": project_id, "stack_owner": None, "stack_user_project_id": uuid.uuid4().hex,
              "parent": None, "deletion_time": None, "updated_time": None, "tags": None}
    return cloud.add("orchestration.stack", record)
