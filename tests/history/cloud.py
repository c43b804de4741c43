"""A CloudStack source for the workload: the project's emulator on 127.0.0.1, its VMs churned and logged.

Owns the emulated cloud of one source and the mapping of a VM's version to its ``displayname``
(``<name>#v<version>``), so the checker can read a version back from a notification. Paging is
small, so deployments and destructions shift VMs between pages while a listing is under way
(the case confirmed deletions close). Never talks to the poller.
"""

from __future__ import annotations

import random
import time
from typing import Any

from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.cloudstack.emulator.seed import seed_base
from tests.history.inventory import MutationLog

VM_TYPE = "cloudstack.virtualmachine"


def version_of(entity: Any) -> int | None:
    """The version a VM notification carries in its displayname (None when it has none)."""
    if not isinstance(entity, dict):
        return None
    name = entity.get("displayname")
    if not isinstance(name, str) or "#v" not in name:
        return None
    tail = name.rsplit("#v", 1)[1]
    return int(tail) if tail.isdigit() else None


class CloudSource:
    """One CloudStack source: an emulator with ``size`` VMs, paged by 20, whose changes go to the mutation log."""

    def __init__(self, source: str, log: MutationLog, size: int) -> None:
        self.source, self.log = source, log
        self.emulator = CloudStackEmulator(max_page_size=20).start()
        self.inventory = self.emulator.inventory
        self.cloud = seed_base(self.inventory, zones=1, clusters_per_zone=1, hosts_per_cluster=3)
        self.alive: dict[str, tuple[str, int]] = {}  # vm id -> (name, version)
        self.serial = 0
        self._apply(lambda: [self._deploy() for _ in range(size)])

    def options(self) -> dict[str, Any]:
        """The source's collector options (endpoint and keys of the emulator)."""
        return self.emulator.source_options(page_size=20, timeout=10)

    def _deploy(self) -> tuple[str, str, int | None]:
        assert self.cloud.template and self.cloud.offering and self.cloud.network
        self.serial += 1
        name = f"{self.source}-e{self.serial}"
        host = self.cloud.hosts[self.serial % len(self.cloud.hosts)]
        vm = self.inventory.deploy_vm(name, displayname=f"{name}#v1", host=host, template=self.cloud.template,
                                      offering=self.cloud.offering, network=self.cloud.network)
        self.alive[vm["id"]] = (name, 1)
        return VM_TYPE, vm["id"], 1

    def _update(self, vm_id: str) -> tuple[str, str, int | None]:
        name, version = self.alive[vm_id]
        self.inventory.update("virtualmachine", vm_id, displayname=f"{name}#v{version + 1}")
        self.alive[vm_id] = (name, version + 1)
        return VM_TYPE, vm_id, version + 1

    def _destroy(self, vm_id: str) -> tuple[str, str, int | None]:
        self.inventory.destroy_vm(vm_id)
        del self.alive[vm_id]
        return VM_TYPE, vm_id, None

    def churn(self, rng: random.Random, operations: int) -> None:
        """Random updates, destructions and deployments (a balanced destroy + deploy shifts the pages)."""

        def changes() -> list[tuple[str, str, int | None]]:
            out = []
            for _ in range(operations):
                roll = rng.random()
                if roll < 0.4 and self.alive:
                    out.append(self._update(rng.choice(list(self.alive))))
                elif roll < 0.7 and len(self.alive) > 5:
                    out.append(self._destroy(rng.choice(sorted(self.alive))))
                else:
                    out.append(self._deploy())
            return out

        self._apply(changes)

    def _apply(self, action: Any) -> None:
        """Apply changes and log them as one generation (listings may see part of it: the checker's
        generation windows span from before the first change to after the last)."""
        before = time.time()
        changes = action()
        after = time.time()
        self.log.append(self.source, before, after, changes)

    def close(self) -> None:
        self.emulator.stop()
