"""The emulated cloud's storage: one table per CloudStack object name, in creation order.

Owns the generic, thread-safe table operations (add, update, delete, look up, removed-id
memory like the database's ``removed`` column) and the shared record helpers. Never
speaks HTTP and never holds the emulator's API keys.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable
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


class _Table(dict):  # type: ignore[type-arg]
    """One table: a dict that counts the changes of its membership (for the visibility cache)."""

    changes = 0

    def __setitem__(self, key: str, value: Record) -> None:
        self.changes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.changes += 1
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.changes += 1
        return super().pop(*args)


class Tables:
    """Thread-safe tables of records; every mutator returns (a copy of) what it stored."""

    def __init__(self, id_factory: Callable[[], str] | None = None) -> None:
        self.lock = threading.RLock()
        self._tables: dict[str, dict[str, Record]] = {kind: _Table() for kind in KINDS}
        self._updates = 0
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
            self._updates += 1
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

    def version(self, kind: str) -> tuple[int, int, int]:
        """Changes when a record of ``kind`` is added or removed, or any record is updated through
        ``update`` (not by counters moved in place): what a cached list of its members depends on."""
        with self.lock:
            table = self._tables[kind]
            return getattr(table, "changes", 0), self._updates, len(table)

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
