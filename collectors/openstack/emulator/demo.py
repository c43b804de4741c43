"""Ready-made clouds for the emulator: the small demo cloud, its scripted changes, and
bulk servers for the 10,000-server benchmark. Uses only the builders in ``resources``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from collectors.openstack.emulator import resources as r
from collectors.openstack.emulator.cloud import Cloud

ADMIN_USER = "admin"
ADMIN_PASSWORD = "emulator-admin-secret"
ADMIN_PROJECT = "admin"


@dataclass
class Seeded:
    """Handles on the records a seeding created, for tests and the scripted changes."""

    admin: dict[str, Any]
    admin_project: dict[str, Any]
    projects: list[dict[str, Any]] = field(default_factory=list)
    flavors: list[dict[str, Any]] = field(default_factory=list)
    hypervisors: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)


def seed_identity(cloud: Cloud) -> Seeded:
    """The Default domain, the admin project and the admin user every emulated cloud has."""
    if cloud.get("identity.domain", "default") is None:
        r.add_domain(cloud, "Default", id="default", description="The default domain")
    project = cloud.find("identity.project", name=ADMIN_PROJECT) or r.add_project(cloud, ADMIN_PROJECT)
    admin = cloud.find("identity.user", name=ADMIN_USER) or r.add_user(
        cloud, ADMIN_USER, ADMIN_PASSWORD, project_id=project["id"], roles=("admin", "member", "reader"))
    return Seeded(admin=admin, admin_project=project)


def seed_demo(cloud: Cloud) -> Seeded:
    """A small, realistic cloud: two projects, three hypervisors, networks, servers, volumes, a stack."""
    seeded = seed_identity(cloud)
    s = seeded
    ops = r.add_domain(cloud, "ops", description="Operations")
    s.projects = [r.add_project(cloud, "web", description="Web shop"),
                  r.add_project(cloud, "batch", domain_id=ops["id"], parent_id=ops["id"], tags=["nightly", "gpu"])]
    web, batch = s.projects
    r.add_user(cloud, "alice", "alice-secret", project_id=web["id"])
    r.add_user(cloud, "bob", "bob-secret", domain_id=ops["id"], project_id=batch["id"])
    for binary in ("nova-scheduler", "nova-conductor"):
        r.add_compute_service(cloud, binary, "controller-1")
    s.hypervisors = [r.add_hypervisor(cloud, f"compute-{n}.example.org") for n in (1, 2, 3)]
    ssd_aggregate = str(uuid.uuid5(uuid.NAMESPACE_DNS, "ssd.aggregate.example.org"))
    providers = [r.add_resource_provider(
        cloud, h["hypervisor_hostname"], uuid_=h["id"],
        inventories={"VCPU": r.inventory(64, allocation_ratio=4.0), "MEMORY_MB": r.inventory(262144, reserved=512,
                     allocation_ratio=1.5), "DISK_GB": r.inventory(2000, max_unit=1800)},
        traits=["HW_CPU_X86_AVX2", "COMPUTE_VOLUME_MULTI_ATTACH", "COMPUTE_NET_ATTACH_INTERFACE"],
        aggregates=[ssd_aggregate] if n < 2 else []) for n, h in enumerate(s.hypervisors)]
    r.add_resource_provider(cloud, "compute-1.example.org_pci_0000_81_00_0", parent=providers[0],
                            inventories={"CUSTOM_PCI_8086_154D": r.inventory(4)}, traits=["CUSTOM_PHYSNET_DATA"])
    r.add_aggregate(cloud, "ssd", [h["hypervisor_hostname"] for h in s.hypervisors[:2]], zone="az-ssd", ssd="true")
    s.flavors = [r.add_flavor(cloud, "m1.small", 1, 2048, 20), r.add_flavor(cloud, "m1.medium", 2, 4096, 40),
                 r.add_flavor(cloud, "m1.large", 4, 8192, 80, extra_specs={"hw:cpu_policy": "dedicated"})]
    s.images = [r.add_image(cloud, "cirros-0.6.2", seeded.admin_project["id"], tags=["test", "tiny"]),
                r.add_image(cloud, "ubuntu-24.04", seeded.admin_project["id"], tags=["lts", "ubuntu", "noble"]),
                r.add_image(cloud, "web-golden", web["id"], visibility="private")]
    public = r.add_network(cloud, "public", seeded.admin_project["id"], external=True)
    public_subnet = r.add_subnet(cloud, public, "203.0.113.0/24")
    public = cloud.get("network.network", public["id"]) or public
    s.networks = [public]
    s.subnets = [public_subnet]
    for project, cidr in ((web, "10.0.0.0/24"), (batch, "10.1.0.0/24")):
        net = r.add_network(cloud, f"{project['name']}-net", project["id"], tags=["prod", project["name"]])
        subnet = r.add_subnet(cloud, net, cidr)
        router = r.add_router(cloud, f"{project['name']}-router", project["id"], external=public,
                              external_ip=f"203.0.113.{10 + len(s.networks)}")
        r.add_port(cloud, net, subnet, cidr.replace("0/24", "1"), "network:router_interface", router["id"])
        r.add_security_group(cloud, "default", project["id"])
        r.add_security_group(cloud, f"{project['name']}-ingress", project["id"], ingress=(22, 80, 443))
        s.networks.append(cloud.get("network.network", net["id"]) or net)
        s.subnets.append(subnet)
    r.add_keypair(cloud, "admin-key", seeded.admin["id"])
    for n, (project, flavor, image) in enumerate(((web, 0, 1), (web, 1, 2), (batch, 2, 1), (batch, 0, 0))):
        boot_server(cloud, s, f"{project['name']}-{n + 1}", project, s.flavors[flavor], s.images[image],
                    s.hypervisors[n % 3], n)
    data = r.add_volume(cloud, "web-data", web["id"], 10, server=s.servers[0])
    r.add_volume(cloud, "scratch", batch["id"], 50)
    r.add_snapshot(cloud, data, "web-data-nightly")
    r.add_stack(cloud, "web-stack", web["id"])
    r.add_stack(cloud, "infra-stack", seeded.admin_project["id"])
    return seeded


def boot_server(cloud: Cloud, s: Seeded, name: str, project: dict[str, Any], flavor: dict[str, Any],
                image: dict[str, Any], hypervisor: dict[str, Any], n: int) -> dict[str, Any]:
    """Boot a server with a port on its project's network (or the first network)."""
    net_index = 1 + (s.projects.index(project) if project in s.projects else 0)
    net = s.networks[min(net_index, len(s.networks) - 1)]
    subnet = s.subnets[min(net_index, len(s.subnets) - 1)]
    ip = subnet["cidr"].replace("0/24", str(10 + n))
    server = r.add_server(cloud, name, project["id"], s.admin["id"], flavor, image, hypervisor, net, ip,
                          key_name="admin-key")
    r.add_port(cloud, net, subnet, ip, "compute:nova", server["id"], project_id=project["id"])
    s.servers.append(server)
    return server


def apply_demo_changes(cloud: Cloud, s: Seeded) -> dict[str, str]:
    """The demo's scripted day: boot a server, resize one, delete one, rename one."""
    web, batch = s.projects
    booted = boot_server(cloud, s, "web-5", web, s.flavors[0], s.images[1], s.hypervisors[2], 20)
    resized = s.servers[1]
    r.resize_server(cloud, resized["id"], s.flavors[2])
    deleted = s.servers[3]
    for port in [p for p in cloud.all("network.port") if p["device_id"] == deleted["id"]]:
        cloud.delete("network.port", port["id"])
    cloud.delete("compute.server", deleted["id"])
    renamed = s.servers[2]
    cloud.update("compute.server", renamed["id"], name="batch-worker-3")
    s.servers.remove(deleted)
    return {"booted": booted["id"], "resized": resized["id"], "deleted": deleted["id"], "renamed": renamed["id"]}


def seed_servers(cloud: Cloud, s: Seeded, count: int) -> list[str]:
    """Add ``count`` servers spread over the seeded hypervisors (for scale tests and benchmarks)."""
    if not s.hypervisors:
        s.hypervisors = [r.add_hypervisor(cloud, f"bulk-{n}.example.org", vcpus=4096, memory_mb=2**24,
                                          local_gb=10**6) for n in range(8)]
    if not s.flavors:
        s.flavors = [r.add_flavor(cloud, "bulk.small", 1, 1024, 10)]
    project = s.admin_project
    ids = []
    for n in range(count):
        server = r.add_server(cloud, f"bulk-{n:05d}", project["id"], s.admin["id"], s.flavors[0],
                              s.images[0] if s.images else None, s.hypervisors[n % len(s.hypervisors)],
                              metadata={"index": str(n)})
        ids.append(server["id"])
    return ids
