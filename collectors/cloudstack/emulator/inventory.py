"""The emulated cloud's state: every record the emulator's list commands can return.

Owns one table per CloudStack object name (``virtualmachine``, ``host``...), kept in
creation order like the management server's internal ids, and an in-process API that
builds records with the fields a real 4.18+ management server returns (field names
taken from apache/cloudstack-go's response structs). It never speaks HTTP and never
holds the emulator's API keys.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]

KINDS = (
    "zone", "pod", "cluster", "host", "storagepool", "imagestore", "systemvm", "router",
    "virtualmachine", "volume", "snapshot", "network", "vpc", "publicipaddress", "template",
    "iso", "serviceoffering", "diskoffering", "networkoffering", "domain", "account",
    "project", "securitygroup",
)

GIB = 1024**3


def cs_time(moment: datetime | None = None) -> str:
    """A timestamp the way CloudStack writes it: ``2026-11-23T08:00:00+0000``."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S%z")


class Inventory:
    """Thread-safe tables of records; every mutator returns (a copy of) what it stored."""

    def __init__(self, id_factory: Callable[[], str] | None = None) -> None:
        self.lock = threading.RLock()
        self._tables: dict[str, dict[str, Record]] = {kind: {} for kind in KINDS}
        self._removed: dict[str, set[str]] = {kind: set() for kind in KINDS}
        self._new_id = id_factory or (lambda: str(uuid.uuid4()))
        self._serial = itertools.count(1)
        self._ips = itertools.count(10)

    # -- generic table access -------------------------------------------------------

    def add(self, kind: str, record: Record) -> Record:
        """Store ``record`` (it must have an ``id``) at the end of its table."""
        with self.lock:
            self._tables[kind][record["id"]] = record
            return copy.deepcopy(record)

    def update(self, kind: str, key: str, **fields: Any) -> Record:
        """Change fields of one record; a value of None removes the field. KeyError if absent."""
        with self.lock:
            record = self._tables[kind][key]
            for name, value in fields.items():
                if value is None:
                    record.pop(name, None)
                else:
                    record[name] = value
            return copy.deepcopy(record)

    def delete(self, kind: str, key: str) -> None:
        """Remove one record (expunge); KeyError if absent."""
        with self.lock:
            del self._tables[kind][key]
            self._removed[kind].add(key)

    def known(self, kind: str, key: str) -> bool:
        """Whether ``key`` exists or existed (removed rows keep their uuid, as in the database)."""
        with self.lock:
            return key in self._tables[kind] or key in self._removed[kind]

    def get(self, kind: str, key: str) -> Record | None:
        """A copy of one record, or None."""
        with self.lock:
            record = self._tables[kind].get(key)
            return copy.deepcopy(record) if record is not None else None

    def records(self, kind: str) -> list[Record]:
        """The live records of one table in creation order (callers must not mutate them)."""
        with self.lock:
            return list(self._tables[kind].values())

    def ids(self, kind: str) -> list[str]:
        """The ids of one table in creation order."""
        with self.lock:
            return list(self._tables[kind])

    def count(self, kind: str) -> int:
        """How many records one table holds."""
        with self.lock:
            return len(self._tables[kind])

    def first(self, kind: str, **match: Any) -> Record:
        """The first record whose fields equal ``match``; KeyError when there is none."""
        for record in self.records(kind):
            if all(record.get(k) == v for k, v in match.items()):
                return copy.deepcopy(record)
        raise KeyError(f"no {kind} matching {match}")

    def _ip(self, prefix: str = "10.1.1") -> str:
        return f"{prefix}.{next(self._ips) % 250 + 2}"

    def _owner(self, account: Record | None, project: Record | None) -> Record:
        if project is not None:
            # ApiResponseHelper.populateOwner: a project's resources name the project, not an account.
            return {"projectid": project["id"], "project": project["name"],
                    "domainid": project["domainid"], "domain": project["domain"]}
        if account is None:
            account = self.first("account", name="admin")
        return {"account": account["name"], "domainid": account["domainid"], "domain": account["domain"]}

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

    # -- guests --------------------------------------------------------------------------------

    def deploy_vm(self, name: str, *, host: Record, template: Record, offering: Record, network: Record,
                  displayname: str | None = None, account: Record | None = None,
                  project: Record | None = None) -> Record:
        """A Running VM on ``host`` plus its ROOT volume on the host's cluster storage."""
        vm_id = self._new_id()
        ip = self._ip("10.1.1")
        owner = self._owner(account, project)
        vm: Record = {
            "id": vm_id, "name": name, "displayname": displayname or name,
            "instancename": f"i-2-{next(self._serial)}-VM",
            "state": "Running", "zoneid": host["zoneid"], "zonename": host["zonename"], "hostid": host["id"],
            "hostname": host["name"], "hypervisor": "KVM", "arch": "x86_64", "templateid": template["id"],
            "templatename": template["name"], "templatedisplaytext": template["name"], "passwordenabled": False,
            "serviceofferingid": offering["id"], "serviceofferingname": offering["name"],
            "cpunumber": offering["cpunumber"], "cpuspeed": offering["cpuspeed"], "memory": offering["memory"],
            "guestosid": template.get("ostypeid"), "osdisplayname": template.get("ostypename"),
            "rootdeviceid": 0, "rootdevicetype": "ROOT", "haenable": False, "isdynamicallyscalable": True,
            "ipaddress": ip, "created": cs_time(), "lastupdated": cs_time(), "pooltype": "NetworkFilesystem",
            "boottype": "BIOS", "bootmode": "LEGACY", "deleteprotection": False, "hasannotations": False,
            "cpuused": "2.1%", "networkkbsread": 0, "networkkbswrite": 0, "diskioread": 0, "diskiowrite": 0,
            "diskkbsread": 0, "diskkbswrite": 0, "memorykbs": offering["memory"] * 1024,
            "memoryintfreekbs": offering["memory"] * 512, "memorytargetkbs": offering["memory"] * 1024,
            "receivedbytes": 0, "sentbytes": 0,
            "nic": [{"id": self._new_id(), "networkid": network["id"], "networkname": network["name"],
                     "ipaddress": ip, "netmask": "255.255.255.0", "gateway": "10.1.1.1", "isdefault": True,
                     "macaddress": "02:00:4c:" + ":".join(f"{b:02x}" for b in uuid.UUID(vm_id).bytes[:3]),
                     "traffictype": "Guest", "type": "Isolated", "broadcasturi": "vlan://1001",
                     "isolationuri": "vlan://1001", "deviceid": "0", "secondaryip": [], "extradhcpoption": []}],
            "securitygroup": [], "affinitygroup": [], "tags": [], "details": {"rootDiskController": "virtio"},
            "readonlydetails": "rootDiskController", "userid": self._new_id(),
            "username": owner.get("account", "admin"), **owner,
        }
        self.add("virtualmachine", vm)
        self.add("volume", self._volume_record(f"ROOT-{vm['instancename'].split('-')[2]}", 10, vm, "ROOT", owner))
        return copy.deepcopy(vm)

    def _volume_record(self, name: str, size_gib: int, vm: Record | None, kind: str, owner: Record) -> Record:
        pool = self.records("storagepool")[0] if self.count("storagepool") else {"id": None, "name": None}
        zoneid = vm["zoneid"] if vm is not None else self.records("zone")[0]["id"]
        record: Record = {
            "id": self._new_id(), "name": name, "type": kind, "size": size_gib * GIB, "state": "Ready",
            "zoneid": zoneid, "zonename": self.get("zone", zoneid)["name"],  # type: ignore[index]
            "storageid": pool["id"], "storage": pool["name"], "storagetype": "shared", "provisioningtype": "thin",
            "created": cs_time(), "hypervisor": "KVM", "isextractable": False, "destroyed": False,
            "displayvolume": True, "quiescevm": False, "supportsstoragesnapshot": False, "deleteprotection": False,
            "diskioread": 0, "diskiowrite": 0, "diskkbsread": 0, "diskkbswrite": 0, "physicalsize": GIB,
            "utilization": "10.00%", "tags": [], **owner,
        }
        if vm is not None:
            record.update(self._attachment(vm, 0 if kind == "ROOT" else 1))
        return {k: v for k, v in record.items() if v is not None}

    @staticmethod
    def _attachment(vm: Record, device: int) -> Record:
        return {"virtualmachineid": vm["id"], "vmname": vm["name"], "vmdisplayname": vm["displayname"],
                "vmstate": vm["state"], "vmtype": "User", "deviceid": device, "attached": cs_time()}

    def create_volume(self, name: str, size_gib: int, account: Record | None = None) -> Record:
        """A detached DATADISK in the first zone."""
        return self.add("volume", self._volume_record(name, size_gib, None, "DATADISK", self._owner(account, None)))

    def attach_volume(self, volume_id: str, vm_id: str) -> Record:
        """Attach a volume to a VM (device 1)."""
        vm = self.get("virtualmachine", vm_id)
        assert vm is not None
        return self.update("volume", volume_id, **self._attachment(vm, 1))

    def detach_volume(self, volume_id: str) -> Record:
        """Detach a volume from its VM."""
        fields = dict.fromkeys(("virtualmachineid", "vmname", "vmdisplayname", "vmstate", "vmtype", "deviceid",
                                "attached"))
        return self.update("volume", volume_id, **fields)

    def create_snapshot(self, volume_id: str, name: str) -> Record:
        """A backed-up manual snapshot of a volume."""
        volume = self.get("volume", volume_id)
        assert volume is not None
        return self.add("snapshot", {
            "id": self._new_id(), "name": name, "volumeid": volume["id"], "volumename": volume["name"],
            "volumetype": volume["type"], "snapshottype": "MANUAL", "intervaltype": "MANUAL", "state": "BackedUp",
            "zoneid": volume["zoneid"], "zonename": volume["zonename"], "physicalsize": GIB,
            "virtualsize": volume["size"], "revertable": True, "locationtype": "PRIMARY", "created": cs_time(),
            "tags": [], "hasannotations": False,
            **{k: volume[k] for k in ("account", "domainid", "domain", "projectid", "project") if k in volume},
        })

    def stop_vm(self, vm_id: str) -> Record:
        """Stop a VM: it leaves its host (no ``hostid`` while Stopped)."""
        self._set_vm_state(vm_id, "Stopped")
        return self.update("virtualmachine", vm_id, state="Stopped", hostid=None, hostname=None, lastupdated=cs_time())

    def start_vm(self, vm_id: str, host: Record) -> Record:
        """Start a stopped VM on ``host``."""
        self._set_vm_state(vm_id, "Running")
        return self.update("virtualmachine", vm_id, state="Running", hostid=host["id"], hostname=host["name"],
                           lastupdated=cs_time())

    def _set_vm_state(self, vm_id: str, state: str) -> None:
        with self.lock:
            for volume in self._tables["volume"].values():
                if volume.get("virtualmachineid") == vm_id:
                    volume["vmstate"] = state

    def destroy_vm(self, vm_id: str) -> None:
        """Destroy and expunge a VM with its ROOT volume; its data disks are detached."""
        with self.lock:
            for volume in list(self._tables["volume"].values()):
                if volume.get("virtualmachineid") == vm_id:
                    if volume["type"] == "ROOT":
                        self.delete("volume", volume["id"])
                    else:
                        self.detach_volume(volume["id"])
            self.delete("virtualmachine", vm_id)

    # -- liveness ---------------------------------------------------------------------------

    def tick(self, step: int = 1) -> None:
        """Move the counters a live, otherwise idle cloud moves: usage, I/O, heartbeats."""
        now = cs_time()
        with self.lock:
            for host in self._tables["host"].values():
                host["lastpinged"] = now
                if host["type"] == "Routing":
                    host["cpuused"] = f"{(step * 7) % 90 + 0.5}%"
                    host["memoryused"] += step * 1024 * 1024
                    host["networkkbsread"] += 17 * step
                    host["networkkbswrite"] += 11 * step
            for vm in self._tables["virtualmachine"].values():
                vm["cpuused"] = f"{(step * 3) % 90 + 0.3}%"
                for counter in ("networkkbsread", "networkkbswrite", "diskioread", "diskiowrite", "diskkbsread",
                                "diskkbswrite", "receivedbytes", "sentbytes"):
                    vm[counter] += step
            for pool in self._tables["storagepool"].values():
                pool["disksizeused"] += step * GIB
            for volume in self._tables["volume"].values():
                volume["diskioread"] += step
                volume["diskkbsread"] += step

    def iter_all(self) -> Iterator[tuple[str, Record]]:
        """Every (kind, record) pair, for debugging and tests."""
        for kind in KINDS:
            for record in self.records(kind):
                yield kind, record
