"""The event worker: debounce, bounded queue, busy retries, failures, hand-off after commit.

The "cloud" here is an in-process collector whose fetch answers from a dict (no emulator
needed to test scheduling); the store is the shared ``store`` fixture: a real SQLite file,
then a real PostgreSQL database (the lease semantics differ per backend).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from baseline.store import Store
from collectors.base import Collector, Entity, EntityType, ListContext, Listing
from collectors.errors import ListingIncomplete
from poller.config import Config, SourceConfig
from poller.events.config import events_config
from poller.events.processor import EventProcessor, QueueFull
from poller.run.source import RunResult, RunSettings, new_holder, run_source

VM = EntityType("vm")


class DictCloud(Collector):
    """Lists and fetches ``vm`` entities from ``api``; events are ``{"vm": key}``; counts fetches."""

    name = "dictcloud"
    entity_types = (VM, EntityType("disk"))

    def __init__(self, api: dict[str, str]) -> None:
        super().__init__("src", {})
        self.api = api
        self.fetches: list[str] = []
        self.failures = 0  # the next N fetches raise
        self.gate: threading.Event | None = None  # fetches wait for it when set
        self._lock = threading.Lock()

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        return Listing(etype.name, iter([self._entity(k) for k in self.api] if etype is VM else []))

    def _entity(self, key: str) -> Entity:
        return Entity("vm", key, name=key, state=self.api[key], attributes={"state": self.api[key]})

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        if self.gate is not None:
            self.gate.wait(5)
        with self._lock:
            self.fetches.append(key)
            if self.failures:
                self.failures -= 1
                raise ListingIncomplete("HTTP 500 while fetching")
        return self._entity(key) if key in self.api else None

    def translate_event(self, event: Mapping[str, Any]) -> builtins.list[tuple[str, str]]:
        if "boom" in event:
            raise RuntimeError("plugin bug")
        if "vm" in event:
            return [("vm", str(event["vm"]))]
        if "disk" in event:
            return [("disk", str(event["disk"]))]
        return []


def config(**events: Any) -> Config:
    base = {"debounce": 0.2, "busy_retry": 0.05, "sources": {"src": {"auth": "none"}}}
    return Config(path="t.yaml", sources=(SourceConfig("src", "dictcloud", entity_types=("vm",)),),
                  events={**base, **events})


class Harness:
    """A processor over DictCloud with a baseline of vm a..e, collecting committed results."""

    def __init__(self, store: Store, **events: Any) -> None:
        self.api = {k: "running" for k in "abcde"}
        self.cloud = DictCloud(self.api)
        self.store = store
        cfg = config(**events)
        run_source(cfg.sources[0], self.cloud, store, RunSettings())
        self.committed: list[RunResult] = []
        self.processor = EventProcessor(cfg, events_config(cfg), store, None, on_commit=self.committed.append,
                                        collectors={"src": self.cloud})

    def notes(self) -> list[tuple[str, str]]:
        return [(r.action, r.key) for result in self.committed for r in self.store.history(run_id=result.run_id)]


@pytest.fixture
def harness(store: Store) -> Iterator[Harness]:
    h = Harness(store)
    h.processor.start()
    yield h
    h.processor.stop(5)


class TestDebounce:
    def test_first_event_is_fetched_at_once(self, store: Store) -> None:
        """The first event for an idle entity is fetched without waiting for the window: with a 30 s
        debounce window the change is committed within 10 s (no wall-clock threshold near the fetch time)."""
        harness = Harness(store, debounce=30)
        harness.processor.start()
        try:
            harness.api["a"] = "stopped"
            harness.processor.submit("src", [{"vm": "a"}])
            assert harness.processor.wait_idle(10) and harness.notes() == [("update", "a")]
        finally:
            harness.processor.stop(5)

    def test_events_within_the_window_cost_one_more_fetch(self, harness: Harness) -> None:
        """F30: Many events for one entity right after a fetch are coalesced into one trailing fetch."""
        harness.processor.submit("src", [{"vm": "a"}])
        time.sleep(0.05)
        for _ in range(50):
            harness.processor.submit("src", [{"vm": "a"}])
        assert harness.processor.wait_idle(3)
        assert harness.cloud.fetches == ["a", "a"]
        assert harness.processor.stats.get("coalesced", "src") == 49

    def test_one_batch_refreshes_several_entities_in_one_transaction(self, harness: Harness) -> None:
        """Events for several entities of one source arriving together share one refresh."""
        harness.cloud.gate = threading.Event()
        harness.processor.submit("src", [{"vm": "a"}])
        time.sleep(0.05)  # a is being fetched; b, c, d queue behind it
        harness.processor.submit("src", [{"vm": k} for k in "bcd"])
        harness.api.update(b="stopped", c="stopped")
        harness.cloud.gate.set()
        assert harness.processor.wait_idle(3)
        assert sorted(harness.notes()) == [("update", "b"), ("update", "c")] and len(harness.committed) == 1


class TestQueue:
    def test_full_queue_refuses_whole_submissions(self, store: Store) -> None:
        """Beyond queue_size waiting targets a submission is refused whole; coalescing ones still pass."""
        h = Harness(store, queue_size=2)  # not started: nothing drains
        h.processor.submit("src", [{"vm": "a"}, {"vm": "b"}])
        with pytest.raises(QueueFull) as raised:
            h.processor.submit("src", [{"vm": "a"}, {"vm": "c"}])
        assert raised.value.retry_after >= 1
        assert h.processor.submit("src", [{"vm": "a"}]).targets == 1
        assert h.processor.backlog == 2

    def test_unknown_and_untranslatable_events_are_counted(self, harness: Harness) -> None:
        """Events naming nothing, a type outside the source's entity_types, or crashing translation: counted, no fetch."""
        accepted = harness.processor.submit("src", [{"other": 1}, {"disk": "d1"}, {"boom": 1}])
        assert accepted.unknown == 3 and accepted.targets == 0
        assert harness.processor.stats.get("unknown", "src") == 3 and harness.cloud.fetches == []


class TestRetries:
    def test_busy_source_is_retried_until_the_lease_is_free(self, harness: Harness) -> None:
        """While a snapshot (another holder) holds the lease, the refresh waits, then applies the change."""
        assert harness.store.acquire_lease("src", "snapshot-elsewhere", 300)
        harness.api["b"] = "stopped"
        harness.processor.submit("src", [{"vm": "b"}])
        time.sleep(0.3)
        assert harness.notes() == [] and harness.processor.stats.get("busy", "src") >= 1
        harness.store.release_lease("src", "snapshot-elsewhere")
        assert harness.processor.wait_idle(3)
        assert harness.notes() == [("update", "b")]

    def test_snapshot_in_this_process_makes_the_source_busy(self, harness: Harness) -> None:
        """A lease held by this process (poller run's scheduled snapshot) is waited for like a foreign one."""
        snapshot_holder = new_holder()  # another run in this very process
        assert harness.store.acquire_lease("src", snapshot_holder, 300)
        harness.api["a"] = "stopped"
        harness.processor.submit("src", [{"vm": "a"}])
        time.sleep(0.3)
        assert harness.notes() == [] and harness.cloud.fetches == []
        harness.store.release_lease("src", snapshot_holder)
        assert harness.processor.wait_idle(3) and harness.notes() == [("update", "a")]

    def test_refresh_that_lost_its_lease_is_retried(self, harness: Harness) -> None:
        """A refresh abandoned before commit (its lease released under it) commits nothing and is retried."""
        cloud, store = harness.cloud, harness.store
        original = cloud.fetch
        calls = []

        def fetch_losing_lease(etype: EntityType, key: str) -> Entity | None:
            calls.append(key)
            if len(calls) == 1:
                store.release_lease("src", store.lease_holder("src") or "")  # the lease vanishes under the refresh
            return original(etype, key)

        cloud.fetch = fetch_losing_lease  # type: ignore[method-assign]
        harness.api["d"] = "stopped"
        harness.processor.submit("src", [{"vm": "d"}])
        assert harness.processor.wait_idle(3)
        assert calls == ["d", "d"] and harness.notes() == [("update", "d")]

    def test_failed_fetch_is_retried(self, harness: Harness) -> None:
        """A fetch that fails once is retried and the change is still applied."""
        harness.cloud.failures = 1
        harness.api["c"] = "stopped"
        harness.processor.submit("src", [{"vm": "c"}])
        assert harness.processor.wait_idle(3)
        assert harness.notes() == [("update", "c")] and harness.processor.stats.get("failed", "src") == 1

    def test_persistent_failure_is_abandoned(self, store: Store) -> None:
        """After max_retries failed attempts the target is dropped and counted; the worker lives on."""
        h = Harness(store, max_retries=2)
        h.processor.start()
        try:
            h.cloud.failures = 100
            h.processor.submit("src", [{"vm": "d"}])
            assert h.processor.wait_idle(5)
            assert len(h.cloud.fetches) == 3 and h.processor.stats.get("abandoned", "src") == 1
            h.cloud.failures = 0
            h.api["e"] = "stopped"
            h.processor.submit("src", [{"vm": "e"}])
            assert h.processor.wait_idle(3) and h.notes() == [("update", "e")]
        finally:
            h.processor.stop(5)

    def test_gone_entity_is_deleted_once(self, harness: Harness) -> None:
        """Repeated events for an entity the API no longer has produce a single delete."""
        del harness.api["e"]
        for _ in range(3):
            harness.processor.submit("src", [{"vm": "e"}])
            assert harness.processor.wait_idle(3)
            time.sleep(0.25)
        assert harness.notes() == [("delete", "e")]


class TestNoop:
    def test_noop_source_drops_and_counts(self, store: Store) -> None:
        """A noop source's events are dropped (no collector is built) and counted."""
        cfg = Config(path="t.yaml", sources=(SourceConfig("n", "noop"),), events={"sources": {"n": {"auth": "none"}}})
        processor = EventProcessor(cfg, events_config(cfg), store, None)
        accepted = processor.submit("n", [{"a": 1}, {"b": 2}])
        assert accepted.dropped and processor.stats.get("dropped", "n") == 2 and processor.backlog == 0

    def test_disabled_source_drops(self, store: Store) -> None:
        """A disabled source accepts and drops events too."""
        cfg = Config(path="t.yaml", sources=(SourceConfig("d", "static", enabled=False),),
                     events={"sources": {"d": {"auth": "none"}}})
        processor = EventProcessor(cfg, events_config(cfg), store, None)
        assert processor.submit("d", [{"a": 1}]).dropped and processor.drop_reason("d") == "disabled"
