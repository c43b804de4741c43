"""The 20 OpenStack entity types the collector declares: parents, volatile fields, sets,
and the API version each is listed with (its fingerprint).

Owns only declarations. Volatile paths change without anyone changing the resource
(live usage, heartbeats, counters bumped by other resources, hypermedia links that
carry the endpoint's host); set paths are lists whose order the API does not keep.
A fingerprint names the pinned microversion and the mapping's version: raising
either changes it, and the baseline then re-hashes from stored payloads instead of
flooding consumers with updates. Never does I/O.
"""

from __future__ import annotations

from collectors.base import EntityType

MAPPING = "m1"  # bump when a mapping function changes what it puts in attributes

# (service, microversion or API version) each type is listed with.
COMPUTE_SERVER_MV = "2.47"  # flavor embedded in the server (name, vcpus, ram, disk, extra_specs)
COMPUTE_FLAVOR_MV = "2.61"  # extra_specs in the flavor body
COMPUTE_HYPERVISOR_MV = "2.53"  # UUID ids; usage counters are still returned (removed at 2.88)
COMPUTE_SERVICE_MV = "2.53"  # UUID ids
COMPUTE_AGGREGATE_MV = "2.41"  # aggregate uuid
COMPUTE_KEYPAIR_MV = "2.35"  # limit/marker paging of keypairs
VOLUME_MV = "3.0"
PLACEMENT_MV = "1.19"  # parent/root provider (1.14), traits (1.6), aggregates with their generation (1.19)


def _fp(api: str) -> str:
    return f"{api};{MAPPING}"


_LINKS = ("/links",)
_NEUTRON_SETS = ("/tags",)

IDENTITY_DOMAIN = EntityType("identity.domain", volatile=_LINKS, sets=("/tags",), fingerprint=_fp("identity v3"),
                             description="Keystone domain")
IDENTITY_PROJECT = EntityType("identity.project", parent="identity.domain", volatile=_LINKS, sets=("/tags",),
                              fingerprint=_fp("identity v3"), description="Keystone project; parent its domain")
IDENTITY_USER = EntityType("identity.user", parent="identity.domain", volatile=_LINKS,
                           fingerprint=_fp("identity v3"), description="Keystone user; parent its domain")

COMPUTE_SERVER = EntityType(
    "compute.server", parent="compute.hypervisor",
    volatile=_LINKS + ("/image/links", "/flavor/links"),
    sets=("/tags", "/security_groups", "/addresses/*", "/os-extended-volumes:volumes_attached"),
    fingerprint=_fp(f"compute {COMPUTE_SERVER_MV}"),
    description="Nova server, all projects; parent its hypervisor when the admin attribute is visible")
COMPUTE_FLAVOR = EntityType("compute.flavor", volatile=_LINKS, fingerprint=_fp(f"compute {COMPUTE_FLAVOR_MV}"),
                            description="Nova flavor, public and private")
HYPERVISOR_USAGE = ("/vcpus_used", "/memory_mb_used", "/local_gb_used", "/free_ram_mb", "/free_disk_gb",
                    "/running_vms", "/current_workload", "/disk_available_least", "/uptime")
COMPUTE_HYPERVISOR = EntityType("compute.hypervisor", volatile=HYPERVISOR_USAGE,
                                sets=("/cpu_info/features",), fingerprint=_fp(f"compute {COMPUTE_HYPERVISOR_MV}"),
                                description="Nova hypervisor; live usage is volatile")
COMPUTE_SERVICE = EntityType("compute.service", volatile=("/updated_at",),
                             fingerprint=_fp(f"compute {COMPUTE_SERVICE_MV}"),
                             description="Nova service (nova-compute, scheduler, conductor); heartbeat is volatile")
COMPUTE_AGGREGATE = EntityType("compute.aggregate", sets=("/hosts",),
                               fingerprint=_fp(f"compute {COMPUTE_AGGREGATE_MV}"),
                               description="Nova host aggregate")
COMPUTE_KEYPAIR = EntityType("compute.keypair", fingerprint=_fp(f"compute {COMPUTE_KEYPAIR_MV}"),
                             description="Nova keypair of the authenticated user; key is its name")

IMAGE_IMAGE = EntityType("image.image", parent="identity.project", sets=("/tags", "/locations"),
                         fingerprint=_fp("image v2"), description="Glance image; parent its owner project")

NETWORK_NETWORK = EntityType("network.network",
                             sets=_NEUTRON_SETS + ("/subnets", "/availability_zones", "/availability_zone_hints"),
                             fingerprint=_fp("network v2.0"), description="Neutron network")
NETWORK_SUBNET = EntityType("network.subnet", parent="network.network",
                            sets=_NEUTRON_SETS + ("/host_routes", "/service_types"),
                            fingerprint=_fp("network v2.0"), description="Neutron subnet; parent its network")
NETWORK_PORT = EntityType("network.port", parent="network.network",
                          sets=_NEUTRON_SETS + ("/fixed_ips", "/security_groups", "/allowed_address_pairs",
                                                "/extra_dhcp_opts", "/dns_assignment"),
                          fingerprint=_fp("network v2.0"), description="Neutron port; parent its network")
NETWORK_ROUTER = EntityType("network.router",
                            sets=_NEUTRON_SETS + ("/routes", "/availability_zones", "/availability_zone_hints",
                                                  "/external_gateway_info/external_fixed_ips"),
                            fingerprint=_fp("network v2.0"), description="Neutron router")
NETWORK_FLOATING_IP = EntityType("network.floating_ip", sets=_NEUTRON_SETS, fingerprint=_fp("network v2.0"),
                                 description="Neutron floating IP; name is its address")
NETWORK_SECURITY_GROUP = EntityType("network.security_group",
                                    sets=_NEUTRON_SETS + ("/security_group_rules", "/security_group_rules/*/tags"),
                                    fingerprint=_fp("network v2.0"),
                                    description="Neutron security group with its rules")

BLOCK_STORAGE_VOLUME = EntityType("block_storage.volume", parent="compute.server", volatile=_LINKS,
                                  sets=("/attachments",), fingerprint=_fp(f"volume {VOLUME_MV}"),
                                  description="Cinder volume, all projects; parent the server it is attached to")
BLOCK_STORAGE_SNAPSHOT = EntityType("block_storage.snapshot", parent="block_storage.volume",
                                    fingerprint=_fp(f"volume {VOLUME_MV}"),
                                    description="Cinder snapshot, all projects; parent its volume")

PLACEMENT_RESOURCE_PROVIDER = EntityType(
    "placement.resource_provider", parent="placement.resource_provider",
    # the generation is bumped by every allocation made against the provider (a server booting elsewhere)
    # inventories: resource class -> total, reserved, min_unit, max_unit, step_size, allocation_ratio
    volatile=_LINKS + ("/generation",), sets=("/traits", "/aggregates"),
    fingerprint=_fp(f"placement {PLACEMENT_MV} inventories traits aggregates"),
    description="Placement resource provider with its inventories, traits and aggregates; "
                "parent its parent provider (nested providers)")

ORCHESTRATION_STACK = EntityType("orchestration.stack", volatile=_LINKS, sets=("/tags",),
                                 fingerprint=_fp("orchestration v1"),
                                 description="Heat stack, all projects")

ALL = (
    IDENTITY_DOMAIN, IDENTITY_PROJECT, IDENTITY_USER,
    COMPUTE_HYPERVISOR, COMPUTE_SERVER, COMPUTE_FLAVOR, COMPUTE_SERVICE, COMPUTE_AGGREGATE, COMPUTE_KEYPAIR,
    IMAGE_IMAGE,
    NETWORK_NETWORK, NETWORK_SUBNET, NETWORK_PORT, NETWORK_ROUTER, NETWORK_FLOATING_IP, NETWORK_SECURITY_GROUP,
    BLOCK_STORAGE_VOLUME, BLOCK_STORAGE_SNAPSHOT,
    PLACEMENT_RESOURCE_PROVIDER, ORCHESTRATION_STACK,
)  # fmt: skip
