"""What a run of a source was asked to do and how it ended: settings, results, abandonment.

Plain values shared by the run, the service, the CLI and the event intake; no behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from baseline.diff import DeletionPolicy
from poller.progress import Progress


class RunAbandoned(Exception):
    """The run passed its deadline or lost its lease: nothing of it is committed."""


class LeaseLost(RunAbandoned):
    """The commit's fence failed: another run holds the source's lease (or it expired);
    nothing of this run is committed and it ends as ``lease_lost``."""


@dataclass
class TypeResult:
    """How one entity type fared in one run."""

    entity_type: str
    status: str = "complete"  # complete | incomplete | unavailable | not_tried (after a source failure)
    delta: bool = False
    listed: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    held: int = 0
    missed: int = 0
    duplicates: int = 0
    unconfirmed: int = 0  # deletions the API did not confirm: the entity is still there
    deferred: int = 0  # deletions not confirmed this run (fetch failed, confirm_max): they wait
    error: str | None = None

    @property
    def changes(self) -> int:
        """Notifications this type produced (created + updated + deleted)."""
        return self.created + self.updated + self.deleted


@dataclass
class RunResult:
    """How one run of one source ended."""

    source: str
    status: str  # ok | partial | failed | busy | lease_lost
    started_at: datetime
    finished_at: datetime | None = None
    run_id: int | None = None
    types: list[TypeResult] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    holder: str | None = None  # the lease holder id of this run (None when it took no lease)
    # A source-wide failure: "auth" (credentials rejected: never retry at once) or "unreachable".
    failure: str | None = None
    token: int | None = None  # the fencing token of its lease
    # The committed notifications as (id, source, entity_type, action, body) tuples, spooled
    # during the commit so a million of them need not be read back from the database.
    published: Any = field(default=None, repr=False)

    @property
    def changes(self) -> int:
        """Total notifications of the run."""
        return sum(t.changes for t in self.types)

    @property
    def held(self) -> int:
        """Deletions withheld by the mass-deletion guard."""
        return sum(t.held for t in self.types)

    def count(self, name: str) -> int:
        """Sum of one TypeResult counter over all types."""
        return sum(getattr(t, name) for t in self.types)

    def summary(self) -> str:
        """The run as a JSON document for the runs table."""
        return orjson.dumps(
            {
                "status": self.status,
                "error": self.error,
                "warnings": self.warnings,
                "types": [t.__dict__ for t in self.types],
            }
        ).decode()


@dataclass(frozen=True)
class RunSettings:
    """How to run: deletion policy, payload storage, first-load announcement, dry run."""

    deletion: DeletionPolicy = DeletionPolicy()
    store_payloads: bool = True
    initial_load: str = "announce"
    max_notification_bytes: int | None = 1_048_576  # notify.max_notification_bytes (B08)
    dry_run: bool = False
    timeout: float | None = None
    emit: Callable[[bytes], None] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    lease_ttl: float = 30.0  # service.lease_ttl; renewed every third of it
    # Planned deletions per type and run confirmed with the collector's fetch (deletion.confirm_max).
    confirm_max: int = 100
    # False for targeted refreshes (push events): they must not look like a listing of the type.
    record_listing: bool = True
    # The phases and counts of the run, for a display (poller.progress); None: nobody is watching.
    progress: Progress | None = None
    # Processes hashing a listing's pages (service.hash_workers); None: one per usable core.
    hash_workers: int | None = None
