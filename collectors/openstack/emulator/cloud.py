"""The emulated cloud's state: one ordered, thread-safe collection per resource kind.

Holds records in the JSON shape the real APIs return (minus request-dependent
parts such as links, which the HTTP layer adds) and the in-process API tests use
to add, change and delete them. It never speaks HTTP.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

KINDS = (
    "identity.domain", "identity.project", "identity.user",
    "compute.server", "compute.flavor", "compute.hypervisor", "compute.service",
    "compute.aggregate", "compute.keypair",
    "image.image",
    "network.network", "network.subnet", "network.port", "network.router",
    "network.floating_ip", "network.security_group",
    "block_storage.volume", "block_storage.snapshot",
    "placement.resource_provider", "orchestration.stack",
)  # fmt: skip


def iso(moment: datetime) -> str:
    """Render a moment the way Nova and most OpenStack APIs do: seconds, UTC, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Meta:
    """Bookkeeping kept beside a record: its listing order and last change."""

    seq: int
    changed: datetime


class Collection:
    """The records of one kind, in creation order, plus the deleted ones (for changes-since)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.live: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Meta] = {}
        self._next_seq = 0
        self._view: list[tuple[int, str]] | None = None

    def put(self, key: str, record: dict[str, Any], now: datetime) -> None:
        meta = self.meta.get(key)
        if meta is None:
            self.meta[key] = Meta(self._next_seq, now)
            self._next_seq += 1
        else:
            meta.changed = now
        self.deleted.pop(key, None)
        self.live[key] = record
        self._view = None

    def remove(self, key: str, now: datetime, tombstone: dict[str, Any] | None) -> None:
        del self.live[key]
        if tombstone is None:
            del self.meta[key]
        else:
            self.deleted[key] = tombstone
            self.meta[key].changed = now
        self._view = None

    def ordered(self, *, with_deleted: bool = False) -> list[tuple[int, str]]:
        """(seq, key) of every live record (and tombstone), in listing order."""
        if with_deleted:
            keys = list(self.live) + list(self.deleted)
            return sorted((self.meta[k].seq, k) for k in keys)
        if self._view is None:
            self._view = [(self.meta[k].seq, k) for k in self.live]
        return self._view

    def after(self, marker: str | None, *, with_deleted: bool = False) -> Iterator[str] | None:
        """Keys listed after ``marker`` (all when None); None when the marker is unknown."""
        order = self.ordered(with_deleted=with_deleted)
        start = 0
        if marker is not None:
            meta = self.meta.get(marker)
            if meta is None:
                return None
            start = bisect.bisect_right(order, (meta.seq, marker))
        return (order[i][1] for i in range(start, len(order)))

    def get(self, key: str, *, with_deleted: bool = False) -> dict[str, Any] | None:
        record = self.live.get(key)
        if record is None and with_deleted:
            record = self.deleted.get(key)
        return record


class Cloud:
    """Every collection of the emulated cloud, guarded by one lock.

    ``clock`` returns the current time (tests may pass a fake one); every change
    records it, which is what ``changes-since`` filters on.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.collections = {kind: Collection(kind) for kind in KINDS}
        self.passwords: dict[str, str] = {}
        self.roles: dict[str, list[str]] = {}

    # -- generic in-process API -------------------------------------------------
    def add(self, kind: str, record: dict[str, Any], key_field: str = "id") -> dict[str, Any]:
        """Store a new record (its id is made when missing) and return it."""
        with self.lock:
            now = self.clock()
            record.setdefault(key_field, str(uuid.uuid4()))
            _touch(kind, record, now, created=True)
            self.collections[kind].put(str(record[key_field]), record, now)
            return record

    def update(self, kind: str, key: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a record (a nested dict replaces the old one) and return it."""
        with self.lock:
            coll = self.collections[kind]
            record = coll.live[key]
            now = self.clock()
            record.update(fields)
            _touch(kind, record, now, created=False)
            coll.put(key, record, now)
            return record

    def delete(self, kind: str, key: str) -> None:
        """Remove a record; servers keep a DELETED tombstone for changes-since."""
        with self.lock:
            coll = self.collections[kind]
            now = self.clock()
            tombstone = None
            if kind == "compute.server":
                tombstone = dict(coll.live[key])
                tombstone.update({"status": "DELETED", "OS-EXT-STS:vm_state": "deleted",
                                  "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 0,
                                  "OS-SRV-USG:terminated_at": iso(now), "updated": iso(now)})
            coll.remove(key, now, tombstone)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            return self.collections[kind].get(key)

    def all(self, kind: str) -> list[dict[str, Any]]:
        """The live records of one kind, in listing order."""
        with self.lock:
            return list(self.collections[kind].live.values())

    def count(self, kind: str) -> int:
        return len(self.collections[kind].live)

    def find(self, kind: str, **match: Any) -> dict[str, Any] | None:
        """The first live record whose fields equal ``match``."""
        with self.lock:
            for record in self.collections[kind].live.values():
                if all(record.get(k) == v for k, v in match.items()):
                    return record
        return None


_UPDATED_FIELD = {"compute.server": "updated", "image.image": "updated_at", "orchestration.stack": "updated_time"}
_CREATED_FIELD = {"compute.server": "created", "orchestration.stack": "creation_time"}
_NO_TIMESTAMPS = {"identity.domain", "identity.project", "identity.user", "compute.keypair",
                  "compute.hypervisor", "placement.resource_provider", "compute.aggregate"}


def _touch(kind: str, record: dict[str, Any], now: datetime, *, created: bool) -> None:
    """Stamp created/updated fields the way each API names them."""
    if kind in _NO_TIMESTAMPS or kind == "compute.service":
        return
    stamp = iso(now)
    if created:
        record.setdefault(_CREATED_FIELD.get(kind, "created_at"), stamp)
    if kind == "orchestration.stack" and created:
        return
    record[_UPDATED_FIELD.get(kind, "updated_at")] = stamp
    if kind.startswith("network.") and "revision_number" in record and not created:
        record["revision_number"] += 1
