"""Guest workloads of the emulated cloud: VMs, their volumes and snapshots, and live counters.

Owns the records a tenant's actions create (deploy, stop, start, destroy, volumes,
snapshots) with the fields listVirtualMachines/listVolumes/listSnapshots return, and
``tick``, which moves what an idle live cloud moves. Never speaks HTTP.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator

from collectors.cloudstack.emulator.tables import GIB, KINDS, Record, Tables, cs_time


class Guests(Tables):
    """VM, volume and snapshot operations on top of the tables."""

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
