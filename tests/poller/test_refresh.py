"""Targeted refreshes (push events): re-fetch, compare, commit like a poll."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baseline.store import Store
from collectors.base import Entity, EntityType
from collectors.static import StaticCollector, entity_from_record
from poller.config import SourceConfig
from poller.run.refresh import refresh
from poller.run.source import RunSettings
from tests.poller.helpers import run, vm


class FetchableStatic(StaticCollector):
    """A static collector whose fetch answers from a dict that tests change (the 'API')."""

    def __init__(self, api: Mapping[str, dict[str, Any]]) -> None:
        super().__init__("src", {"entities": list(api.values())})
        self.api = api
        self.fetched: list[str] = []

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        self.fetched.append(key)
        raw = self.api.get(key)
        return None if raw is None else entity_from_record(raw)


SOURCE = SourceConfig(name="src", collector="static")


def notes_of(store: Store, run_id: int | None) -> list[tuple[str, str]]:
    return [(r.action, r.key) for r in store.history(run_id=run_id)] if run_id else []


class TestRefresh:
    """Events are hints; the API decides."""

    def test_update_seen_without_full_listing(self, store: Store, clock: Any) -> None:
        """A refreshed entity that changed yields one update; others are not touched."""
        run(store, [vm("a"), vm("b")], clock)
        api = {"a": vm("a", size="xl"), "b": vm("b", size="xl")}
        result = refresh(SOURCE, FetchableStatic(api), store, RunSettings(clock=clock), [("vm", "a")])
        assert notes_of(store, result.run_id) == [("update", "a")]

    def test_gone_is_deleted(self, store: Store, clock: Any) -> None:
        """An entity the API no longer has is deleted."""
        run(store, [vm("a"), vm("b")], clock)
        result = refresh(SOURCE, FetchableStatic({"b": vm("b")}), store, RunSettings(clock=clock), [("vm", "a")])
        assert notes_of(store, result.run_id) == [("delete", "a")]

    def test_a_lie_changes_nothing(self, store: Store, clock: Any) -> None:
        """An event claiming a deletion of an entity the API still has yields nothing."""
        run(store, [vm("a")], clock)
        result = refresh(SOURCE, FetchableStatic({"a": vm("a")}), store, RunSettings(clock=clock), [("vm", "a")])
        assert result.changes == 0 and store.load_hashes("src", "vm").keys() == {"a"}

    def test_refresh_does_not_count_as_a_listing(self, store: Store, clock: Any) -> None:
        """A refresh leaves the type's listing record alone, so absence-based deletion is unaffected."""
        run(store, [vm("a"), vm("b")], clock)
        before = store.type_state("src", "vm")
        clock.advance(60)
        refresh(SOURCE, FetchableStatic({"a": vm("a", x=1)}), store, RunSettings(clock=clock), [("vm", "a")])
        assert store.type_state("src", "vm") == before
        assert store.load_hashes("src", "vm").keys() == {"a", "b"}

    def test_duplicate_targets_fetch_once(self, store: Store, clock: Any) -> None:
        """The same key named many times is fetched once per refresh."""
        run(store, [vm("a")], clock)
        collector = FetchableStatic({"a": vm("a")})
        refresh(SOURCE, collector, store, RunSettings(clock=clock), [("vm", "a")] * 50)
        assert collector.fetched == ["a"]
