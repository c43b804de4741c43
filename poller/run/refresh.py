"""Targeted refreshes: re-read named entities and apply them like a poll.

Used by push events: an event is a hint, never the truth. Each (type, key) it names
is re-fetched from the API through the collector's ``fetch``; the answer goes through
the same hashing, baseline comparison and one-transaction commit as a poll. "Gone"
(the API says the entity no longer exists) deletes it; an entity the API still has
is never deleted, whatever the event said.

Concurrency: a refresh runs under the same per-source database lease as a full
snapshot, so the two never interleave. A snapshot lists, compares and commits while
holding the lease; a refresh that arrives meanwhile finds the source busy and is
retried after it. Because the refresh fetches the entity *after* the snapshot
committed, it always applies the newer state; a snapshot that starts after the
refresh compares against the refreshed baseline. Neither can overwrite newer data
with older data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from baseline.store import Store
from collectors.base import Collector, EntityType, Gone, Item, ListContext, Listing
from poller.config import SourceConfig
from poller.run.source import RunResult, RunSettings, run_source


class _Fetching(Collector):
    """Presents a collector's ``fetch`` answers for some keys as delta listings."""

    def __init__(self, inner: Collector, targets: dict[str, list[str]]) -> None:
        super().__init__(inner.source, {})
        self.inner = inner
        self.targets = targets
        self.name = inner.name  # type: ignore[misc]

    def discover_types(self) -> Sequence[EntityType]:
        declared = {t.name: t for t in self.inner.entity_types}
        return [declared.get(name) or EntityType(name) for name in self.targets
                if name in declared or self.inner.dynamic_types]

    def warnings(self) -> list[str]:
        return self.inner.warnings()

    def connect(self) -> None:
        """One login or probe for the whole refresh, as for a poll (a rejected one fails it once)."""
        self.inner.connect()

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        return Listing(etype.name, self._fetch(etype), delta=True)

    def _fetch(self, etype: EntityType) -> Iterator[Item]:
        for key in dict.fromkeys(self.targets.get(etype.name, ())):
            entity = self.inner.fetch(etype, key)
            yield Gone(etype.name, key) if entity is None else entity


def refresh(
    source: SourceConfig, collector: Collector, store: Store, settings: RunSettings, targets: Sequence[tuple[str, str]]
) -> RunResult:
    """Re-fetch ``targets`` ((entity type, key) pairs) and commit what changed, like a poll.

    Types the collector does not declare are ignored; a busy source returns status "busy"
    (retry later).
    """
    grouped: dict[str, list[str]] = {}
    for etype, key in targets:
        grouped.setdefault(etype, []).append(key)
    wrapped = _Fetching(collector, grouped)
    scoped = replace(source, entity_types=None)
    return run_source(scoped, wrapped, store, replace(settings, record_listing=False))
