"""The emulated cloud: infrastructure, identity, catalogue and networking records, plus guests.

Owns the in-process API that builds records with the fields a real 4.18+ management
server returns (field names taken from apache/cloudstack-go's response structs):
zones, pods, clusters, hosts, storage, system VMs, routers, domains, accounts,
projects, offerings, templates, networks, VPCs, public IPs and security groups; the
guest operations come from ``guests.py``. Never speaks HTTP, never holds API keys.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from collectors.cloudstack.emulator.guests import Guests
from collectors.cloudstack.emulator.tables import GIB, KINDS, Record, cs_time

__all__ = ["GIB", "KINDS", "Inventory", "Record", "cs_time"]


class Inventory(Guests):
    """The whole emulated cloud; thread-safe; every builder returns a copy of the stored record."""

    # -- infrastructure -------------------------------------------------------------

    def add_zone(self, name: str, **extra: Any) -> Record:
        """An Advanced zone, Enabled."""
        return self.add("zone", {
            "id": self._new_id(), "name": name, "description": f"{name} zone", "networktype": "Advanced",
            "allocationstate": "Enabled", "dns1": "8.8.8.8", "internaldns1": "10.0.0.2",
            "guestcidraddress": "10.1.0.0/16", "localstorageenabled": False, "securitygroupsenabled": False,
            "dhcpprovider": "VirtualRouter", "zonetoken": str(uuid.uuid4()), "hasannotations": False,
            "tags": [], "resourcedetails": {}, **extra,
        })

    def add_pod(self, zone: Record, name: str) -> Record:
        """A pod of ``zone`` with a private IP range."""
        return self.add("pod", {
            "id": self._new_id(), "name": name, "zoneid": zone["id"], "zonename": zone["name"],
            "gateway": "192.168.100.1", "netmask": "255.255.255.0", "startip": ["192.168.100.10"],
            "endip": ["192.168.100.200"], "allocationstate": "Enabled", "hasannotations": False,
        })

    def add_cluster(self, pod: Record, name: str, hypervisor: str = "KVM") -> Record:
        """A CloudManaged cluster of ``pod``."""
        return self.add("cluster", {
            "id": self._new_id(), "name": name, "podid": pod["id"], "podname": pod["name"],
            "zoneid": pod["zoneid"], "zonename": pod["zonename"], "hypervisortype": hypervisor,
            "clustertype": "CloudManaged", "allocationstate": "Enabled", "managedstate": "Managed",
            "cpuovercommitratio": "2.0", "memoryovercommitratio": "1.0", "arch": "x86_64", "hasannotations": False,
        })

    def add_host(self, cluster: Record, name: str, cpus: int = 32, memory_gib: int = 256) -> Record:
        """A hypervisor (type Routing) in ``cluster``, Up and Enabled."""
        now = cs_time()
        return self.add("host", {
            "id": self._new_id(), "name": name, "type": "Routing", "state": "Up", "resourcestate": "Enabled",
            "ipaddress": self._ip("192.168.100"), "zoneid": cluster["zoneid"], "zonename": cluster["zonename"],
            "podid": cluster["podid"], "podname": cluster["podname"], "clusterid": cluster["id"],
            "clustername": cluster["name"], "clustertype": "CloudManaged", "hypervisor": "KVM",
            "hypervisorversion": "4.2.0", "version": "4.19.1.0", "arch": "x86_64", "cpunumber": cpus,
            "cpusockets": 2, "cpuspeed": 2400, "cpuallocated": "0%", "cpuused": "1.5%", "cpuloadaverage": 0.4,
            "cpuwithoverprovisioning": str(cpus * 2400 * 2), "memorytotal": memory_gib * GIB,
            "memoryallocated": 0, "memoryused": 8 * GIB, "memorywithoverprovisioning": str(memory_gib * GIB),
            "networkkbsread": 0, "networkkbswrite": 0, "disksizetotal": 0, "disksizeallocated": 0,
            "lastpinged": "1970-01-20T07:47:42+0000", "created": now, "disconnected": now,
            "managementserverid": "2a5ce98a-8a0c-4c36-b1e0-d9e91bbf6d69", "islocalstorageactive": False,
            "hahost": False, "hosttags": "", "capabilities": "hvm,snapshot",
            "events": "AgentDisconnected; Ping; Remove",
            "outofbandmanagement": {"enabled": False, "powerstate": "Disabled"},
            "hostha": {"haenable": False, "hastate": "Disabled"}, "encryptionsupported": True,
            "instanceconversionsupported": False, "ueficapability": True, "hasannotations": False, "details": {},
        })

    def add_system_host(self, zone: Record, name: str, kind: str = "SecondaryStorageVM") -> Record:
        """The host record of a system VM (SecondaryStorageVM or ConsoleProxy): no pod, no cluster."""
        return self.add("host", {
            "id": self._new_id(), "name": name, "type": kind, "state": "Up", "resourcestate": "Enabled",
            "ipaddress": self._ip("192.168.100"), "zoneid": zone["id"], "zonename": zone["name"],
            "version": "4.19.1.0", "lastpinged": "1970-01-20T07:47:42+0000", "created": cs_time(),
            "managementserverid": "2a5ce98a-8a0c-4c36-b1e0-d9e91bbf6d69", "islocalstorageactive": False,
            "events": "AgentDisconnected; Ping; Remove", "hasannotations": False, "details": {},
        })

    def add_storagepool(self, name: str, *, cluster: Record | None = None, zone: Record | None = None) -> Record:
        """An NFS primary storage: CLUSTER scope under ``cluster``, or ZONE scope under ``zone``."""
        base = cluster if cluster is not None else zone
        assert base is not None
        record: Record = {
            "id": self._new_id(), "name": name, "type": "NetworkFilesystem", "state": "Up",
            "scope": "CLUSTER" if cluster is not None else "ZONE", "ipaddress": "192.168.100.5",
            "path": f"/export/primary/{name}", "zoneid": base.get("zoneid", base["id"]),
            "zonename": base.get("zonename", base["name"]), "disksizetotal": 4096 * GIB,
            "disksizeallocated": 0, "disksizeused": 100 * GIB, "capacityiops": None, "overprovisionfactor": "2.0",
            "provider": "DefaultPrimary", "hypervisor": "KVM", "managed": False, "tags": "",
            "istagarule": False, "created": cs_time(), "hasannotations": False,
        }
        if cluster is not None:
            record.update(clusterid=cluster["id"], clustername=cluster["name"], podid=cluster["podid"],
                          podname=cluster["podname"])
        return self.add("storagepool", {k: v for k, v in record.items() if v is not None})

    def add_imagestore(self, zone: Record, name: str) -> Record:
        """An NFS secondary storage of ``zone``."""
        return self.add("imagestore", {
            "id": self._new_id(), "name": name, "protocol": "nfs", "providername": "NFS", "scope": "ZONE",
            "url": f"nfs://192.168.100.5/export/secondary/{name}", "zoneid": zone["id"], "zonename": zone["name"],
            "readonly": False, "disksizetotal": 2048 * GIB, "disksizeused": 300 * GIB, "hasannotations": False,
        })

    def add_systemvm(self, zone: Record, host: Record, kind: str = "secondarystoragevm") -> Record:
        """A secondary-storage or console-proxy VM running on ``host``."""
        prefix = "s" if kind == "secondarystoragevm" else "v"
        return self.add("systemvm", {
            "id": self._new_id(), "name": f"{prefix}-{next(self._serial)}-VM", "systemvmtype": kind,
            "state": "Running", "agentstate": "Up", "zoneid": zone["id"], "zonename": zone["name"],
            "hostid": host["id"], "hostname": host["name"], "podid": host.get("podid"), "hypervisor": "KVM",
            "privateip": self._ip("192.168.100"), "publicip": self._ip("203.0.113"), "linklocalip": "169.254.3.4",
            "gateway": "203.0.113.1", "dns1": "8.8.8.8", "templateid": None, "version": "4.19.1",
            "created": cs_time(), "isdynamicallyscalable": False, "activeviewersessions": 0, "hasannotations": False,
        })

    def add_router(self, zone: Record, host: Record, network: Record) -> Record:
        """A virtual router for ``network`` running on ``host``."""
        return self.add("router", {
            "id": self._new_id(), "name": f"r-{next(self._serial)}-VM", "state": "Running", "role": "VIRTUAL_ROUTER",
            "zoneid": zone["id"], "zonename": zone["name"], "hostid": host["id"], "hostname": host["name"],
            "podid": host.get("podid"), "hypervisor": "KVM", "guestnetworkid": network["id"],
            "guestnetworkname": network["name"], "guestipaddress": "10.1.1.1", "publicip": self._ip("203.0.113"),
            "linklocalip": "169.254.1.10", "isredundantrouter": False, "redundantstate": "UNKNOWN",
            "requiresupgrade": False, "version": "4.19.1", "softwareversion": "4.19.1", "created": cs_time(),
            "healthchecksfailed": False, "hasannotations": False, **self._owner(None, None),
        })

    # -- identity ---------------------------------------------------------------------

    def add_domain(self, name: str, parent: Record | None = None) -> Record:
        """A domain (ROOT when ``parent`` is None)."""
        path = "ROOT" if parent is None else f"{parent['path']}/{name}"
        record: Record = {"id": self._new_id(), "name": name, "path": path, "level": 0 if parent is None else 1,
                          "haschild": False, "state": "Active", "created": cs_time(), "hasannotations": False,
                          "vmlimit": "Unlimited", "vmtotal": 0, "vmavailable": "Unlimited"}
        if parent is not None:
            record.update(parentdomainid=parent["id"], parentdomainname=parent["name"])
            self.update("domain", parent["id"], haschild=True)
        return self.add("domain", record)

    def add_account(self, domain: Record, name: str, accounttype: int = 0) -> Record:
        """An account with one user (the user's keys are never part of the record)."""
        return self.add("account", {
            "id": self._new_id(), "name": name, "accounttype": accounttype,
            "roletype": "Admin" if accounttype == 1 else "User", "domainid": domain["id"], "domain": domain["name"],
            "domainpath": domain["path"], "state": "enabled", "created": cs_time(), "isdefault": name == "admin",
            "vmlimit": "Unlimited", "vmtotal": 0, "vmrunning": 0, "vmstopped": 0, "vmavailable": "Unlimited",
            "volumelimit": "Unlimited", "volumetotal": 0, "volumeavailable": "Unlimited",
            "user": [{"id": self._new_id(), "username": name, "firstname": name, "lastname": "User",
                      "email": f"{name}@example.com", "state": "enabled", "account": name,
                      "accounttype": accounttype, "domainid": domain["id"], "domain": domain["name"],
                      "created": cs_time(), "isdefault": name == "admin"}],
        })

    def add_project(self, domain: Record, owner: Record, name: str) -> Record:
        """An Active project of ``domain`` owned by ``owner``."""
        return self.add("project", {
            "id": self._new_id(), "name": name, "displaytext": f"{name} project", "domainid": domain["id"],
            "domain": domain["name"], "state": "Active", "created": cs_time(),
            "owner": [{"account": owner["name"], "accountid": owner["id"]}], "tags": [],
            "vmlimit": "Unlimited", "vmtotal": 0, "vmavailable": "Unlimited",
        })

    # -- catalogue ---------------------------------------------------------------------

    def add_serviceoffering(self, name: str, cpus: int, memory_mib: int) -> Record:
        """A compute offering."""
        return self.add("serviceoffering", {
            "id": self._new_id(), "name": name, "displaytext": f"{cpus} vCPU, {memory_mib} MiB", "cpunumber": cpus,
            "cpuspeed": 1000, "memory": memory_mib, "storagetype": "shared", "provisioningtype": "thin",
            "offerha": False, "limitcpuuse": False, "isvolatile": False, "issystem": False,
            "defaultuse": False, "iscustomized": False, "dynamicscalingenabled": True, "state": "Active",
            "created": cs_time(), "hasannotations": False,
        })

    def add_diskoffering(self, name: str, size_gib: int) -> Record:
        """A data-disk offering."""
        return self.add("diskoffering", {
            "id": self._new_id(), "name": name, "displaytext": f"{size_gib} GB", "disksize": size_gib,
            "iscustomized": False, "storagetype": "shared", "provisioningtype": "thin", "cacheMode": "none",
            "displayoffering": True, "state": "Active", "encrypt": False, "created": cs_time(),
            "hasannotations": False,
        })

    def add_networkoffering(self, name: str) -> Record:
        """An isolated network offering with source NAT."""
        return self.add("networkoffering", {
            "id": self._new_id(), "name": name, "displaytext": name, "traffictype": "Guest",
            "guestiptype": "Isolated", "state": "Enabled", "isdefault": True, "ispersistent": False,
            "specifyvlan": False, "specifyipranges": False, "availability": "Optional", "conservemode": True,
            "egressdefaultpolicy": False, "forvpc": False, "networkrate": 200, "created": cs_time(),
            "service": [{"name": "Dhcp", "provider": [{"name": "VirtualRouter"}]},
                        {"name": "SourceNat", "provider": [{"name": "VirtualRouter"}]}],
        })

    def add_template(self, name: str, zones: list[Record], kind: str = "template") -> Record:
        """A ready template (or, with ``kind="iso"``, an ISO), registered in each of ``zones``.

        Like the management server, the listing returns one record per (template, zone).
        """
        key = self._new_id()
        owner = self._owner(None, None)
        records = []
        for zone in zones:
            record: Record = {
                "id": key, "name": name, "displaytext": name, "ispublic": True, "isfeatured": True,
                "isready": True, "status": "Download Complete", "zoneid": zone["id"], "zonename": zone["name"],
                "ostypeid": "e3b3d0b6-0000-4000-8000-000000000001", "ostypename": "Ubuntu 22.04 LTS",
                "bootable": True, "crossZones": False, "created": cs_time(), "isextractable": False,
                "hypervisor": "KVM" if kind == "template" else None, "format": "QCOW2" if kind == "template" else None,
                "templatetype": "USER", "size": 10 * GIB, "passwordenabled": False, "sshkeyenabled": False,
                "isdynamicallyscalable": False, "requireshvm": True, "tags": [], "details": {}, **owner,
            }
            records.append({k: v for k, v in record.items() if v is not None})
        with self.lock:
            table = self._tables[kind]
            table[key] = records[0]
            for extra in records[1:]:
                table[f"{key}@{extra['zoneid']}"] = extra
        return copy.deepcopy(records[0])

    # -- guest networking --------------------------------------------------------------------

    def add_network(self, zone: Record, offering: Record, name: str, account: Record | None = None,
                    project: Record | None = None) -> Record:
        """An isolated guest network, Implemented."""
        return self.add("network", {
            "id": self._new_id(), "name": name, "displaytext": name, "zoneid": zone["id"], "zonename": zone["name"],
            "networkofferingid": offering["id"], "networkofferingname": offering["name"], "type": "Isolated",
            "traffictype": "Guest", "state": "Implemented", "cidr": "10.1.1.0/24", "gateway": "10.1.1.1",
            "netmask": "255.255.255.0", "broadcastdomaintype": "Vlan", "broadcasturi": "vlan://1001",
            "isdefault": False, "ispersistent": False, "restartrequired": False, "specifyipranges": False,
            "acltype": "Account", "canusefordeploy": True, "redundantrouter": False,
            "networkdomain": "cs1cloud.internal",
            "service": [{"name": "Dhcp"}, {"name": "SourceNat"}], "tags": [], "created": cs_time(),
            "hasannotations": False, **self._owner(account, project),
        })

    def add_vpc(self, zone: Record, name: str, account: Record | None = None) -> Record:
        """A VPC, Enabled."""
        return self.add("vpc", {
            "id": self._new_id(), "name": name, "displaytext": name, "zoneid": zone["id"], "zonename": zone["name"],
            "cidr": "10.10.0.0/16", "state": "Enabled", "vpcofferingname": "Default VPC offering",
            "vpcofferingid": "b9a4f2c7-0000-4000-8000-000000000002", "redundantvpcrouter": False,
            "restartrequired": False, "regionlevelvpc": False, "distributedvpcrouter": False, "fordisplay": True,
            "network": [], "service": [{"name": "Vpn"}], "tags": [], "created": cs_time(),
            **self._owner(account, None),
        })

    def add_publicip(self, zone: Record, network: Record | None = None, account: Record | None = None) -> Record:
        """An allocated public IP (the source NAT IP when ``network`` is given)."""
        record: Record = {
            "id": self._new_id(), "ipaddress": self._ip("203.0.113"), "zoneid": zone["id"], "zonename": zone["name"],
            "state": "Allocated", "allocated": cs_time(), "issourcenat": network is not None, "isstaticnat": False,
            "issystem": False, "forvirtualnetwork": True, "vlanname": "vlan://untagged", "fordisplay": True,
            "tags": [], "hasannotations": False, **self._owner(account, None),
        }
        if network is not None:
            record.update(associatednetworkid=network["id"], associatednetworkname=network["name"])
        return self.add("publicipaddress", record)

    def add_securitygroup(self, name: str, account: Record | None = None) -> Record:
        """A security group with one ingress rule (SSH) and one egress rule."""
        return self.add("securitygroup", {
            "id": self._new_id(), "name": name, "description": f"{name} group",
            "ingressrule": [{"ruleid": self._new_id(), "protocol": "tcp", "startport": 22, "endport": 22,
                             "cidr": "0.0.0.0/0", "tags": []}],
            "egressrule": [{"ruleid": self._new_id(), "protocol": "all", "cidr": "0.0.0.0/0", "tags": []}],
            "virtualmachinecount": 0, "virtualmachineids": [], "tags": [], **self._owner(account, None),
        })
