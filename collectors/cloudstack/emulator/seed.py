"""Ready-made emulated clouds: a small realistic demo cloud, its scripted changes, and a large one.

Owns only the recipes; every record is built by ``Inventory``. Never speaks HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.cloudstack.emulator.inventory import Inventory, Record


@dataclass
class DemoCloud:
    """Handles on the records the demo changes later."""

    zones: list[Record] = field(default_factory=list)
    hosts: list[Record] = field(default_factory=list)
    vms: list[Record] = field(default_factory=list)
    network: Record | None = None
    template: Record | None = None
    offering: Record | None = None
    project: Record | None = None
    spare_volume: Record | None = None


def seed_base(inv: Inventory, *, zones: int = 1, clusters_per_zone: int = 1, hosts_per_cluster: int = 2) -> DemoCloud:
    """Domains, accounts, a project, offerings, and a zone > pod > cluster > host tree with storage."""
    cloud = DemoCloud()
    root = inv.add_domain("ROOT")
    engineering = inv.add_domain("engineering", root)
    admin = inv.add_account(root, "admin", accounttype=1)
    alice = inv.add_account(engineering, "alice")
    cloud.project = inv.add_project(engineering, alice, "webshop")
    cloud.offering = inv.add_serviceoffering("Small Instance", 1, 1024)
    inv.add_serviceoffering("Medium Instance", 2, 4096)
    inv.add_diskoffering("Small", 20)
    inv.add_diskoffering("Large", 200)
    net_offering = inv.add_networkoffering("DefaultIsolatedNetworkOfferingWithSourceNatService")
    for z in range(zones):
        zone = inv.add_zone(f"zone-{z + 1}")
        cloud.zones.append(zone)
        pod = inv.add_pod(zone, f"pod-{z + 1}a")
        inv.add_imagestore(zone, f"sec-{z + 1}")
        inv.add_storagepool(f"zone-pool-{z + 1}", zone=zone)
        for c in range(clusters_per_zone):
            cluster = inv.add_cluster(pod, f"cluster-{z + 1}{chr(97 + c)}")
            inv.add_storagepool(f"pool-{z + 1}{chr(97 + c)}", cluster=cluster)
            for h in range(hosts_per_cluster):
                cloud.hosts.append(inv.add_host(cluster, f"kvm-{z + 1}{chr(97 + c)}-{h + 1:02d}"))
        # A system VM runs on a hypervisor and also has its own agent "host" record without a cluster.
        inv.add_system_host(zone, f"s-{z + 1}-VM", "SecondaryStorageVM")
        inv.add_systemvm(zone, cloud.hosts[-1], "secondarystoragevm")
        inv.add_system_host(zone, f"v-{z + 1}-VM", "ConsoleProxy")
        inv.add_systemvm(zone, cloud.hosts[-1], "consoleproxy")
    cloud.template = inv.add_template("Ubuntu 22.04", cloud.zones)
    inv.add_template("systemvm-kvm-4.19", cloud.zones[:1])
    inv.add_template("Rocky Linux 9 ISO", cloud.zones[:1], kind="iso")
    cloud.network = inv.add_network(cloud.zones[0], net_offering, "admin-net", admin)
    inv.add_router(cloud.zones[0], cloud.hosts[0], cloud.network)
    inv.add_publicip(cloud.zones[0], cloud.network, admin)
    inv.add_network(cloud.zones[0], net_offering, "webshop-net", project=cloud.project)
    inv.add_vpc(cloud.zones[0], "vpc-prod", admin)
    inv.add_securitygroup("default", admin)
    inv.add_securitygroup("default", alice)
    return cloud


def seed_demo(inv: Inventory) -> DemoCloud:
    """A small realistic cloud: 2 zones, 6 hypervisors, 6 VMs (one in a project), disks and a snapshot."""
    cloud = seed_base(inv, zones=2, clusters_per_zone=1, hosts_per_cluster=3)
    assert cloud.network and cloud.template and cloud.offering
    for i, host in enumerate(cloud.hosts[:3] * 2):
        project = cloud.project if i == 5 else None
        vm = inv.deploy_vm(f"vm-{i + 1:03d}", displayname=f"web-{i + 1}" if i % 2 else None, host=host,
                           template=cloud.template, offering=cloud.offering, network=cloud.network, project=project)
        cloud.vms.append(vm)
    data = inv.create_volume("data-01", 50)
    inv.attach_volume(data["id"], cloud.vms[0]["id"])
    root = inv.first("volume", virtualmachineid=cloud.vms[0]["id"], type="ROOT")
    inv.create_snapshot(root["id"], "vm-001-root-nightly")
    cloud.spare_volume = inv.create_volume("spare-01", 20)
    return cloud


def apply_demo_changes(inv: Inventory, cloud: DemoCloud) -> dict[str, str]:
    """Deploy a VM, stop one, destroy one, attach a volume; returns the ids by change.

    Keys: ``deployed``, ``stopped``, ``destroyed`` (VM ids) and ``attached`` (the volume id).
    Usage counters move too (volatile: they must not show as changes).
    """
    assert cloud.network and cloud.template and cloud.offering and cloud.spare_volume
    new_vm = inv.deploy_vm("vm-new", displayname="batch-worker", host=cloud.hosts[1], template=cloud.template,
                           offering=cloud.offering, network=cloud.network)
    stopped, destroyed, target = cloud.vms[1], cloud.vms[2], cloud.vms[3]
    inv.stop_vm(stopped["id"])
    inv.destroy_vm(destroyed["id"])
    inv.attach_volume(cloud.spare_volume["id"], target["id"])
    inv.tick(2)
    cloud.vms.remove(destroyed)
    cloud.vms.append(new_vm)
    return {"deployed": new_vm["id"], "stopped": stopped["id"], "destroyed": destroyed["id"],
            "attached": cloud.spare_volume["id"]}


def seed_scale(inv: Inventory, vms: int) -> DemoCloud:
    """A large cloud: 1 zone, 4 clusters of 25 hosts, and ``vms`` VMs spread over the hosts."""
    cloud = seed_base(inv, zones=1, clusters_per_zone=4, hosts_per_cluster=25)
    assert cloud.network and cloud.template and cloud.offering
    for i in range(vms):
        host = cloud.hosts[i % len(cloud.hosts)]
        inv.deploy_vm(f"vm-{i + 1:05d}", host=host, template=cloud.template, offering=cloud.offering,
                      network=cloud.network)
    return cloud
