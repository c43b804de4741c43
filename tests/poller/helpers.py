"""Helpers for run tests: a static source over inline entities, and run shortcuts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from baseline.diff import DeletionPolicy
from baseline.store import Store
from collectors.base import Collector, Entity, EntityType, ListContext, Listing
from collectors.errors import ListingIncomplete
from collectors.static import StaticCollector
from poller.config import SourceConfig
from poller.run.source import RunResult, RunSettings, run_source


def vm(key: str, **attributes: Any) -> dict[str, Any]:
    """An inline static entity of type vm."""
    return {"type": "vm", "key": key, "name": f"vm-{key}", "state": "ACTIVE", "attributes": {"id": key, **attributes}}


def run(store: Store, entities: Sequence[dict[str, Any]], clock: Any, *, source: SourceConfig | None = None,
        collector: Collector | None = None, **settings: Any) -> tuple[RunResult, list[dict[str, Any]]]:
    """Run a static source over ``entities`` once; returns the result and its notifications."""
    source = source or SourceConfig(name="src", collector="static", options={"entities": list(entities)})
    collector = collector or StaticCollector(source.name, {**source.options, "entities": list(entities)})
    emitted: list[bytes] = []
    deletion = settings.pop("deletion", DeletionPolicy())
    result = run_source(source, collector, store, RunSettings(deletion=deletion, clock=clock, emit=emitted.append, **settings))
    if settings.get("dry_run"):
        return result, [orjson.loads(b) for b in emitted]
    notes = [orjson.loads(r.body) for r in store.history(run_id=result.run_id)] if result.run_id else []
    return result, notes


class FlakyCollector(Collector):
    """Lists the given vm entities but fails after ``fail_after`` of them (None: never)."""

    name = "flaky"
    entity_types = (EntityType("vm"),)

    def __init__(self, entities: Sequence[dict[str, Any]], fail_after: int | None = None, total: int | None = None) -> None:
        super().__init__("src", {})
        self.entities = entities
        self.fail_after = fail_after
        self.total = total

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        return Listing(etype.name, self._gen())

    def _gen(self) -> Iterator[Entity]:
        from collectors.static import entity_from_record

        for index, raw in enumerate(self.entities):
            if self.fail_after is not None and index >= self.fail_after:
                raise ListingIncomplete("page 2 failed: HTTP 500")
            yield entity_from_record(raw)
        return self.total


class RecordRuns:
    """Runs one API source again and again through the real run (hash_workers 1, in this process),
    counting the records its collector module's ``parse_records`` was given in the last run."""

    def __init__(self, store: Store, clock: Any, monkeypatch: Any, module: Any, source: SourceConfig,
                 make: Any) -> None:
        self.store, self.clock, self.source, self.make = store, clock, source, make
        self.parsed: list[str] = []
        real = module.parse_records

        def counting(records: list[bytes], wheres: list[Any], context: Any) -> Any:
            self.parsed.extend([context.etype] * len(records))
            return real(records, wheres, context)

        monkeypatch.setattr(module, "parse_records", counting)

    def once(self) -> list[dict[str, Any]]:
        """One run (which must succeed); its notifications."""
        self.parsed.clear()
        result, notes = run(self.store, [], self.clock, source=self.source, collector=self.make(), hash_workers=1)
        assert result.status == "ok", result.error
        return notes
