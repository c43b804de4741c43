"""Deletions confirmed by the API (issue 12, item 4): a collector that can ``fetch`` is asked
about each entity before its deletion is committed; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from baseline.diff import DeletionPolicy
from baseline.store import Store
from collectors.base import Collector, Entity, EntityType, ListContext, Listing
from collectors.errors import ListingIncomplete, SourceUnreachable, TypeUnavailable
from collectors.static import StaticCollector, entity_from_record
from poller.config import DeletionConfig, SourceConfig
from tests.poller.helpers import run, vm


class FetchingCollector(Collector):
    """Lists ``listed`` and answers ``fetch`` from ``alive`` (a key -> record map), recording each call.

    ``fail`` maps a key to the error its fetch raises.
    """

    name = "fetching"
    entity_types = (EntityType("vm"),)

    def __init__(self, listed: Sequence[dict[str, Any]], alive: Sequence[dict[str, Any]] | None = None,
                 fail: dict[str, Exception] | None = None) -> None:
        super().__init__("src", {})
        self.listed = list(listed)
        self.alive = {r["key"]: r for r in (self.listed if alive is None else alive)}
        self.fail = fail or {}
        self.fetched: list[str] = []
        self.events: list[str] = []

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        return Listing(etype.name, self._gen())

    def _gen(self) -> Iterator[Entity]:
        for raw in self.listed:
            yield entity_from_record(raw)

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        self.fetched.append(key)
        self.events.append("fetch")
        if key in self.fail:
            raise self.fail[key]
        raw = self.alive.get(key)
        return None if raw is None else entity_from_record(raw)


def actions(notes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((n["action"], n["key"]) for n in notes)


def misses(store: Store, key: str) -> int:
    return store.load_misses("src", "vm").get(key, 0)


class TestConfirmedDeletions:
    """What the API says about an entity missing from a complete listing decides its deletion."""

    def test_F12_entity_the_api_still_has_is_not_deleted(self, store: Store, clock: Any) -> None:
        """F12: a key missing from a complete listing that fetch still returns is not deleted and is counted."""
        run(store, [vm("a"), vm("b")], clock)
        collector = FetchingCollector([vm("a")], alive=[vm("a"), vm("b")])
        result, notes = run(store, [], clock, collector=collector)
        assert notes == [] and collector.fetched == ["b"]
        assert result.count("unconfirmed") == 1 and result.count("deleted") == 0
        assert store.load_hashes("src", "vm").keys() == {"a", "b"}

    def test_alive_entity_that_changed_is_an_update(self, store: Store, clock: Any) -> None:
        """An entity the API still returns is compared like a listed one: changed means updated."""
        run(store, [vm("a"), vm("b", size=1)], clock)
        collector = FetchingCollector([vm("a")], alive=[vm("a"), vm("b", size=2)])
        _, notes = run(store, [], clock, collector=collector)
        assert actions(notes) == [("update", "b")]
        assert notes[0]["changes"] == [{"path": "/size", "old": 1, "new": 2}]

    def test_gone_entity_is_deleted(self, store: Store, clock: Any) -> None:
        """An entity fetch says is gone is deleted in the same run."""
        run(store, [vm("a"), vm("b")], clock)
        collector = FetchingCollector([vm("a")])
        result, notes = run(store, [], clock, collector=collector)
        assert actions(notes) == [("delete", "b")] and collector.fetched == ["b"]
        assert result.count("unconfirmed") == 0

    def test_failed_fetch_deletes_nothing_this_run(self, store: Store, clock: Any) -> None:
        """A fetch that fails leaves the entity as a miss; it is deleted once a later fetch says gone."""
        run(store, [vm("a"), vm("b")], clock)
        failing = FetchingCollector([vm("a")], fail={"b": ListingIncomplete("HTTP 500")})
        result, notes = run(store, [], clock, collector=failing)
        assert notes == [] and result.count("deferred") == 1 and misses(store, "b") == 1
        _, notes = run(store, [], clock, collector=FetchingCollector([vm("a")]))
        assert actions(notes) == [("delete", "b")]

    def test_unreachable_api_stops_confirming(self, store: Store, clock: Any) -> None:
        """A source-wide failure stops the fetches of the run: every planned deletion waits."""
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        collector = FetchingCollector([vm("a")], fail={"b": SourceUnreachable("timeout")})
        result, notes = run(store, [], clock, collector=collector)
        assert notes == [] and collector.fetched == ["b"] and result.count("deferred") == 2

    def test_confirm_max_caps_fetches(self, store: Store, clock: Any) -> None:
        """At most deletion.confirm_max fetches per type and run; the rest wait as misses for a later run."""
        keys = [f"k{i}" for i in range(5)]
        run(store, [vm("a")] + [vm(k) for k in keys], clock)
        collector = FetchingCollector([vm("a")])
        result, notes = run(store, [], clock, collector=collector, confirm_max=2,
                            deletion=DeletionPolicy(max_fraction=1.0))
        assert collector.fetched == ["k0", "k1"] and actions(notes) == [("delete", "k0"), ("delete", "k1")]
        assert result.count("deferred") == 3 and [misses(store, k) for k in keys[2:]] == [1, 1, 1]
        _, notes = run(store, [], clock, collector=FetchingCollector([vm("a")]), confirm_max=2,
                       deletion=DeletionPolicy(max_fraction=1.0))
        assert actions(notes) == [("delete", "k2"), ("delete", "k3")]

    def test_source_confirm_max_overrides(self, store: Store, clock: Any) -> None:
        """A source's own deletion.confirm_max applies to its runs."""
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        source = SourceConfig(name="src", collector="fetching", deletion=DeletionConfig(max_fraction=1.0, confirm_max=1))
        collector = FetchingCollector([vm("a")])
        run(store, [], clock, collector=collector, source=source)
        assert collector.fetched == ["b"]

    def test_confirm_max_zero_deletes_on_absence_alone(self, store: Store, clock: Any) -> None:
        """confirm_max 0 turns confirmation off: absence alone deletes, without a fetch."""
        run(store, [vm("a"), vm("b")], clock)
        collector = FetchingCollector([vm("a")], alive=[vm("a"), vm("b")])
        _, notes = run(store, [], clock, collector=collector, confirm_max=0)
        assert actions(notes) == [("delete", "b")] and collector.fetched == []

    def test_collector_without_fetch_deletes_as_before(self, store: Store, clock: Any) -> None:
        """A collector that cannot fetch keeps the old rule: absence from a complete listing deletes."""
        run(store, [vm("a"), vm("b")], clock)
        _, notes = run(store, [vm("a")], clock)
        assert actions(notes) == [("delete", "b")]
        assert StaticCollector.fetch is Collector.fetch

    def test_type_unavailable_fetch_deletes_as_before(self, store: Store, clock: Any) -> None:
        """A collector whose fetch does not serve this type falls back to absence alone."""
        run(store, [vm("a"), vm("b")], clock)
        collector = FetchingCollector([vm("a")], fail={"b": TypeUnavailable("no single reads")})
        _, notes = run(store, [], clock, collector=collector)
        assert actions(notes) == [("delete", "b")]

    def test_mass_deletion_guard_holds_before_any_fetch(self, store: Store, clock: Any) -> None:
        """Deletions held by the mass-deletion guard are not fetched (nothing would be deleted anyway)."""
        keys = [f"k{i:02}" for i in range(12)]
        run(store, [vm(k) for k in keys], clock)
        collector = FetchingCollector([])
        result, notes = run(store, [], clock, collector=collector)
        assert notes == [] and collector.fetched == [] and result.held == 12

    def test_fetches_happen_outside_the_commit_transaction(self, store: Store, clock: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
        """Every confirming fetch is made before the commit transaction opens (no network I/O inside it)."""
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        collector = FetchingCollector([vm("a")], alive=[vm("a"), vm("b")])
        opened = store.transaction
        open_now: list[bool] = []

        @contextlib.contextmanager
        def spying(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with opened(*args, **kwargs) as tx:
                open_now.append(True)
                try:
                    yield tx
                finally:
                    open_now.pop()

        original_fetch = collector.fetch

        def fetch(etype: EntityType, key: str) -> Entity | None:
            collector.events.append("inside" if open_now else "outside")
            return original_fetch(etype, key)

        monkeypatch.setattr(store, "transaction", spying)
        monkeypatch.setattr(collector, "fetch", fetch)
        result, _ = run(store, [], clock, collector=collector)
        assert [e for e in collector.events if e in ("inside", "outside")] == ["outside", "outside"]
        assert result.count("deleted") == 1


class TestConfig:
    """The deletion.confirm_max key."""

    def test_confirm_max_is_read_and_reaches_the_run_settings(self) -> None:
        """deletion.confirm_max (top level and per source) is parsed and passed to the runs."""
        from poller.config import parse_config
        from poller.run.snapshot import settings_for

        config = parse_config(
            "deletion: {confirm_max: 7}\nsources:\n  - {name: s, collector: noop, deletion: {confirm_max: 3}}\n",
            "poller.yaml", {},
        )
        assert settings_for(config).confirm_max == 7 and config.source("s").deletion.confirm_max == 3
        assert DeletionConfig().confirm_max == 100

    def test_negative_confirm_max_is_refused(self) -> None:
        """A negative confirm_max is a configuration error naming the key."""
        from poller.config import parse_config
        from poller.errors import ConfigError

        with pytest.raises(ConfigError, match="deletion.confirm_max"):
            parse_config("deletion: {confirm_max: -1}\n", "poller.yaml", {})
