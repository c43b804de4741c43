"""Synthetic OpenStack-server-shaped inventories for the benchmarks (~2.2 KB per entity, like a Nova
server with details at microversion 2.79 as `GET /servers/detail` returns it)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def server(i: int, generation: int = 0) -> dict[str, Any]:
    """One static-collector record shaped like a Nova server with details (~2.2 KB)."""
    sid = f"{i:08x}-4e2a-4c1b-9d3e-{i:012x}"
    ram = 4096 * (1 + generation % 3)
    attributes = {
        "id": sid, "name": f"vm-{i}", "status": "ACTIVE", "tenant_id": f"{i % 97:032x}", "user_id": f"{i % 13:032x}",
        "metadata": {"env": "prod" if i % 3 else "dev", "team": f"team-{i % 50}", "generation": str(generation)},
        "hostId": f"{i % 100:056x}",
        "image": {"id": f"{i % 20:08x}-0000-4000-8000-000000000000"},
        "flavor": {"vcpus": ram // 2048, "ram": ram, "disk": 40, "ephemeral": 0, "swap": 0, "original_name": f"m1.{ram}",
                   "extra_specs": {"hw:cpu_policy": "shared", "hw:mem_page_size": "small"}},
        "created": "2026-01-01T00:00:00Z", "updated": f"2026-01-02T00:00:{generation % 60:02d}Z",
        "addresses": {"private": [{"version": 4, "addr": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "OS-EXT-IPS:type": "fixed",
                                   "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"}]},
        "accessIPv4": "", "accessIPv6": "",
        "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": f"az-{i % 3}", "config_drive": "",
        "key_name": None, "OS-SRV-USG:launched_at": "2026-01-01T00:00:01.000000", "OS-SRV-USG:terminated_at": None,
        "OS-EXT-SRV-ATTR:host": f"compute-{i % 100}", "OS-EXT-SRV-ATTR:instance_name": f"instance-{i:08x}",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": f"compute-{i % 100}.example.org", "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
        "os-extended-volumes:volumes_attached": [{"id": f"{i:08x}-0000-4000-8000-{i:012x}", "delete_on_termination": False}],
        "security_groups": [{"name": "default"}, {"name": f"sg-{i % 7}"}], "description": None, "tags": ["bench", f"t{i % 5}"],
        "locked": False, "host_status": "UP", "trusted_image_certificates": None,
        # microversion 2.3+ extended attributes, as `openstack server show` returns them
        "OS-EXT-SRV-ATTR:hostname": f"vm-{i}", "OS-EXT-SRV-ATTR:reservation_id": f"r-{i:08x}",
        "OS-EXT-SRV-ATTR:launch_index": 0, "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda", "OS-EXT-SRV-ATTR:user_data": None,
        "links": [{"rel": "self", "href": f"https://compute.example.org/v2.1/servers/{sid}"},
                  {"rel": "bookmark", "href": f"https://compute.example.org/servers/{sid}"}],
        "pinned_availability_zone": None, "server_groups": [], "locked_reason": None,
        "fault": None, "host": f"compute-{i % 100}",
    }
    return {"type": "compute.server", "key": sid, "name": f"vm-{i}", "state": "ACTIVE", "project": attributes["tenant_id"],
            "parent": {"type": "compute.hypervisor", "key": f"compute-{i % 100}"}, "attributes": attributes}


def write(path: Path, n: int, *, change: float = 0.0, created: float = 0.0, deleted: float = 0.0, seed: int = 7) -> dict[str, int]:
    """Write N servers; a fraction changed, some deleted and new ones created. Returns the counts."""
    rng = random.Random(seed)
    changed_ids = set(rng.sample(range(n), int(n * change))) if change else set()
    remaining = [i for i in range(n) if i not in changed_ids]
    deleted_ids = set(rng.sample(remaining, int(n * deleted))) if deleted else set()
    extra = int(n * created)
    with path.open("wb") as out:
        for record in _records(n, changed_ids, deleted_ids, extra):
            out.write(orjson.dumps(record) + b"\n")
    return {"changed": len(changed_ids), "deleted": len(deleted_ids), "created": extra}


def _records(n: int, changed: set[int], deleted: set[int], extra: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if i not in deleted:
            yield server(i, generation=1 if i in changed else 0)
    for i in range(n, n + extra):
        yield server(i)
