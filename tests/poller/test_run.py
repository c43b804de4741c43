"""Change semantics of one run, on SQLite and PostgreSQL (DESIGN.md's contract)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from baseline import schema
from baseline.diff import DeletionPolicy
from baseline.store import Store
from collectors.base import EntityType
from collectors.static import StaticCollector
from poller.config import SourceConfig
from tests.poller.helpers import FlakyCollector, run, vm


def actions(notes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(n["action"], n["key"]) for n in notes]


class TestCreateUpdateDelete:
    """The basic lifecycle."""

    def test_first_load_creates_with_initial_flag(self, store: Store, clock: Any) -> None:
        """F25: A first load creates every entity, flagged initial, with an epoch."""
        result, notes = run(store, [vm("a"), vm("b")], clock)
        assert result.status == "ok"
        assert actions(notes) == [("create", "a"), ("create", "b")]
        assert all(n["initial"] is True and n["epoch"] for n in notes)

    def test_idle_source_emits_nothing(self, store: Store, clock: Any) -> None:
        """A second identical listing produces no notification."""
        run(store, [vm("a")], clock)
        result, notes = run(store, [vm("a")], clock)
        assert notes == [] and result.changes == 0

    def test_update_carries_field_changes(self, store: Store, clock: Any) -> None:
        """An update names each changed field with old and new values."""
        run(store, [vm("a", flavor={"name": "m1.small"})], clock)
        _, notes = run(store, [vm("a", flavor={"name": "m1.large"})], clock)
        assert actions(notes) == [("update", "a")]
        assert notes[0]["changes"] == [{"path": "/flavor/name", "old": "m1.small", "new": "m1.large"}]
        assert notes[0]["previous_hash"] and notes[0]["hash"] != notes[0]["previous_hash"]
        assert notes[0]["initial"] is False

    def test_envelope_change_is_an_update(self, store: Store, clock: Any) -> None:
        """A state change outside the attributes is an update naming the previous state."""
        run(store, [vm("a")], clock)
        changed = {**vm("a"), "state": "SHUTOFF"}
        _, notes = run(store, [changed], clock)
        assert actions(notes) == [("update", "a")]
        assert notes[0]["previous"] == {"state": "ACTIVE"} and notes[0]["state"] == "SHUTOFF"

    def test_delete_after_complete_listing(self, store: Store, clock: Any) -> None:
        """A key missing from a complete listing is deleted, with its last name and a null entity."""
        run(store, [vm("a"), vm("b")], clock)
        _, notes = run(store, [vm("a")], clock)
        assert actions(notes) == [("delete", "b")]
        assert notes[0]["entity"] is None and notes[0]["name"] == "vm-b" and notes[0]["hash"] is None

    def test_recreation_after_delete(self, store: Store, clock: Any) -> None:
        """A deleted key that comes back is created again, with a new id."""
        _, first = run(store, [vm("a")], clock)
        run(store, [], clock)
        _, notes = run(store, [vm("a")], clock)
        assert actions(notes) == [("create", "a")]
        assert notes[0]["id"] != first[0]["id"] and notes[0]["initial"] is False

    def test_flapping_values_get_distinct_ids(self, store: Store, clock: Any) -> None:
        """A value going A->B->A->B gives four different notification ids."""
        ids = []
        for size in ("s", "l", "s", "l"):
            _, notes = run(store, [vm("a", size=size)], clock)
            ids.append(notes[0]["id"])
        assert len(set(ids)) == 4


class TestIncompleteListings:
    """A listing that failed or was cut short changes nothing for its type."""

    def test_failure_midway_deletes_nothing(self, store: Store, clock: Any) -> None:
        """F01: A listing that raises after one entity commits no creates, updates or deletions."""
        entities = [vm("a"), vm("b"), vm("c")]
        run(store, entities, clock)
        changed = [vm("a", x=1), vm("b")]
        result, notes = run(store, changed, clock, collector=FlakyCollector(changed, fail_after=1))
        assert result.status == "failed" and notes == []
        assert store.load_hashes("src", "vm").keys() == {"a", "b", "c"}
        # The next good run emits the real changes exactly once.
        _, notes = run(store, changed, clock, collector=FlakyCollector(changed))
        assert sorted(actions(notes)) == [("delete", "c"), ("update", "a")]

    def test_total_mismatch_is_incomplete(self, store: Store, clock: Any) -> None:
        """F12: A listing whose unique keys fall short of the API's reported total deletes nothing."""
        run(store, [vm("a"), vm("b")], clock)
        result, notes = run(store, [vm("a")], clock, collector=FlakyCollector([vm("a")], total=2))
        assert result.types[0].status == "incomplete" and notes == []

    def test_conflicting_duplicates_make_it_incomplete(self, store: Store, clock: Any) -> None:
        """B05: The same key twice with different contents is an error naming the key."""
        result, notes = run(store, [vm("a"), vm("a", x=1)], clock)
        assert result.types[0].status == "incomplete" and "a" in (result.types[0].error or "") and notes == []

    def test_identical_duplicates_collapse(self, store: Store, clock: Any) -> None:
        """B05: The same key twice with the same contents counts once."""
        result, notes = run(store, [vm("a"), vm("a")], clock)
        assert actions(notes) == [("create", "a")] and result.types[0].duplicates == 1

    def test_other_types_still_proceed(self, store: Store, clock: Any) -> None:
        """F07: One bad type does not stop another type's changes."""
        host = {"type": "host", "key": "h", "attributes": {}}
        good = StaticCollector("src", {"entities": [host, vm("a")]})
        result, notes = run(store, [host, vm("a")], clock, collector=good)
        assert len(notes) == 2
        bad_vm = {"type": "vm", "key": "a", "attributes": {"blob": b"bytes"}}
        host2 = {"type": "host", "key": "h2", "attributes": {}}
        result, notes = run(store, [host2, bad_vm], clock, collector=StaticCollector("src", {"entities": [host2, bad_vm]}))
        assert result.status == "partial"
        assert sorted(actions(notes)) == [("create", "h2"), ("delete", "h")]


class TestDeletionPolicy:
    """min_misses and the mass-deletion guard."""

    def test_min_misses(self, store: Store, clock: Any) -> None:
        """With min_misses=2 an entity is deleted on its second consecutive miss only."""
        policy = DeletionPolicy(min_misses=2)
        run(store, [vm("a"), vm("b")], clock, deletion=policy)
        _, notes = run(store, [vm("a")], clock, deletion=policy)
        assert notes == []
        _, notes = run(store, [vm("a")], clock, deletion=policy)
        assert actions(notes) == [("delete", "b")]

    def test_seen_again_resets_misses(self, store: Store, clock: Any) -> None:
        """A miss followed by a sighting starts the count again."""
        policy = DeletionPolicy(min_misses=2)
        run(store, [vm("a"), vm("b")], clock, deletion=policy)
        run(store, [vm("a")], clock, deletion=policy)
        run(store, [vm("a"), vm("b")], clock, deletion=policy)
        _, notes = run(store, [vm("a")], clock, deletion=policy)
        assert notes == []

    def test_mass_deletion_is_held_then_released(self, store: Store, clock: Any) -> None:
        """F08: Deleting most of a type is held (run partial) until allowed."""
        entities = [vm(str(i)) for i in range(20)]
        run(store, entities, clock)
        result, notes = run(store, entities[:5], clock)
        assert result.status == "partial" and result.held == 15 and notes == []
        assert len(store.load_hashes("src", "vm")) == 20
        result, notes = run(store, entities[:5], clock, deletion=DeletionPolicy(allow_mass_delete=True))
        assert len(notes) == 15 and all(n["action"] == "delete" for n in notes)


class TestAtomicityAndCost:
    """One transaction per run, and no writes for unchanged entities."""

    def test_failed_commit_leaves_previous_baseline(self, store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """F14: A crash inside the commit leaves the baseline and outbox as they were."""
        run(store, [vm("a")], clock)
        from baseline import store as store_mod

        def boom(self: Any, rows: Any, *args: Any) -> None:
            raise RuntimeError("simulated crash during commit")

        monkeypatch.setattr(store_mod.Transaction, "append_outbox", boom)
        with pytest.raises(RuntimeError):
            run(store, [vm("a", x=2), vm("b")], clock)
        monkeypatch.undo()
        assert store.load_hashes("src", "vm").keys() == {"a"}
        _, notes = run(store, [vm("a", x=2), vm("b")], clock)
        assert sorted(actions(notes)) == [("create", "b"), ("update", "a")]

    def test_unchanged_entities_cost_no_row_writes(self, store: Store, clock: Any) -> None:
        """Only changed entities' rows are written."""
        run(store, [vm(str(i)) for i in range(50)], clock)
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        entities = [vm(str(i)) for i in range(50)]
        entities[7] = vm("7", changed=True)
        run(store, entities, clock)
        writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE POLLER_ENTITIES", "INSERT INTO POLLER_ENTITIES"))]
        assert writes, "the changed entity must be written"
        with store.engine.connect() as conn:
            changed = conn.execute(sa.select(sa.func.count()).select_from(schema.entities).where(schema.entities.c.version > 1)).scalar()
        assert changed == 1

    def test_dry_run_writes_nothing(self, store: Store, clock: Any) -> None:
        """A dry run prints changes but leaves baseline, outbox and runs untouched."""
        run(store, [vm("a")], clock)
        before = store.last_seq(), len(store.runs())
        result, notes = run(store, [vm("a", x=1), vm("b")], clock, dry_run=True)
        assert sorted(actions(notes)) == [("create", "b"), ("update", "a")]
        assert (store.last_seq(), len(store.runs())) == before
        assert store.load_hashes("src", "vm").keys() == {"a"}

    def test_ids_are_deterministic(self, store_url: str, clock: Any, tmp_path: Any) -> None:
        """The same change computed twice (a crash and a rerun) gets the same id."""
        from baseline.store import open_store

        s = open_store(store_url)
        run(s, [vm("a")], clock)
        _, dry = run(s, [vm("a", x=1)], clock, dry_run=True)
        _, real = run(s, [vm("a", x=1)], clock)
        assert dry[0]["id"] == real[0]["id"]
        s.close()


class TestEpochAndRules:
    """First loads, silent initial loads, ignore rules and re-fingerprinting."""

    def test_silent_initial_load(self, store: Store, clock: Any) -> None:
        """F25: initial_load: silent records the baseline with one baseline_initialized marker, no creates."""
        _, notes = run(store, [vm("a"), vm("b")], clock, initial_load="silent")
        assert actions(notes) == [("baseline_initialized", store.epoch("src"))]
        assert notes[0]["baseline"] == {"new_epoch": True, "types": {"vm": 2}, "entities": 2}
        assert store.load_hashes("src", "vm").keys() == {"a", "b"}
        _, notes = run(store, [vm("a"), vm("b"), vm("c")], clock, initial_load="silent")
        assert actions(notes) == [("create", "c")]

    def test_F25_silent_marker_per_new_type_and_dry_run(self, store: Store, clock: Any) -> None:
        """F25: a type added later gets its own marker (new_epoch false); a dry run shows the marker, commits nothing."""
        _, dry = run(store, [vm("a")], clock, initial_load="silent", dry_run=True)
        assert [n["action"] for n in dry] == ["baseline_initialized"] and list(store.history()) == []
        run(store, [vm("a")], clock, initial_load="silent")
        rack = {"type": "rack", "key": "r1", "name": "r1", "attributes": {}}
        _, notes = run(store, [vm("a"), vm("b"), rack], clock, initial_load="silent")
        assert actions(notes) == [("create", "b"), ("baseline_initialized", store.epoch("src"))]
        assert notes[1]["baseline"] == {"new_epoch": False, "types": {"rack": 1}, "entities": 1}
        assert notes[1]["initial"] is True and notes[1]["entity_type"] == "poller.baseline"

    def test_reset_starts_a_new_epoch(self, store: Store, clock: Any) -> None:
        """F25: After a reset the creates are initial again, under a new epoch."""
        _, first = run(store, [vm("a")], clock)
        store.reset("src")
        _, again = run(store, [vm("a")], clock)
        assert again[0]["initial"] is True and again[0]["epoch"] != first[0]["epoch"]

    def test_ignore_fields_from_config(self, store: Store, clock: Any) -> None:
        """F29: A configured ignore path never produces an update."""
        source = SourceConfig(name="src", collector="static", ignore_fields={"vm": ("/metrics/*",)})
        run(store, [vm("a", metrics={"load": 1})], clock, source=source)
        _, notes = run(store, [vm("a", metrics={"load": 9})], clock, source=source)
        assert notes == []

    def test_unignoring_a_default_rehashes_without_flood(self, store: Store, clock: Any) -> None:
        """F28: Changing the rules re-hashes stored payloads: no updates unless the data changed."""
        declared = {"types": {"vm": {"volatile": ["/usage"]}}}
        src1 = SourceConfig(name="src", collector="static")
        c1 = StaticCollector("src", {**declared, "entities": [vm("a", usage=1), vm("b", usage=1)]})
        run(store, [], clock, source=src1, collector=c1)
        src2 = SourceConfig(name="src", collector="static", ignore_fields={"vm": ("!/usage",)})
        c2 = StaticCollector("src", {**declared, "entities": [vm("a", usage=1), vm("b", usage=2)]})
        _, notes = run(store, [], clock, source=src2, collector=c2)
        assert actions(notes) == [("update", "b")]
        assert notes[0]["changes"] == [{"path": "/usage", "old": 1, "new": 2}]

    def test_sets_are_order_free(self, store: Store, clock: Any) -> None:
        """F29: A list declared as a set can come back in any order without an update."""
        declared = {"types": {"vm": {"sets": ["/rules"]}}}
        c1 = StaticCollector("src", {**declared, "entities": [vm("a", rules=[{"p": 1}, {"p": 2}])]})
        run(store, [], clock, collector=c1)
        c2 = StaticCollector("src", {**declared, "entities": [vm("a", rules=[{"p": 2}, {"p": 1}])]})
        _, notes = run(store, [], clock, collector=c2)
        assert notes == []

    def test_types_only_in_baseline_are_listed(self, store: Store, clock: Any) -> None:
        """A static type that vanished from the inventory has its entities deleted."""
        host = {"type": "host", "key": "h", "attributes": {}}
        run(store, [host, vm("a")], clock)
        _, notes = run(store, [vm("a")], clock)
        assert actions(notes) == [("delete", "h")]


class TestLease:
    """Two processes never run one source at once."""

    def test_busy_source_is_skipped(self, store: Store, clock: Any) -> None:
        """F23: While another live holder has the lease, the run is skipped as busy."""
        assert store.acquire_lease("src", "other-host:1:x", 300)
        # Mark the holder as another host so the dead-pid shortcut cannot apply.
        with store.transaction() as tx:
            tx.conn.execute(sa.update(schema.leases).values(host="elsewhere"))
        result, notes = run(store, [vm("a")], clock)
        assert result.status == "busy" and "another process" in (result.error or "") and notes == []

    def test_expired_lease_is_taken_over(self, store: Store, clock: Any) -> None:
        """An expired lease does not block the source."""
        assert store.acquire_lease("src", "other", -1)  # expired a second ago by the database's clock
        result, _ = run(store, [vm("a")], clock)
        assert result.status == "ok"


def test_entity_type_declared_parent_is_kept(store: Store, clock: Any) -> None:
    """Parents travel into the notification."""
    child = {"type": "vm", "key": "a", "parent": {"type": "host", "key": "h1"}, "attributes": {}}
    _, notes = run(store, [child], clock)
    assert notes[0]["parent"] == {"type": "host", "key": "h1"}
    assert EntityType("vm").name == "vm"


def test_failure_to_record_the_run_frees_the_lease(store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database failure right after the lease was taken fails the run and gives the lease back."""
    from baseline.errors import StoreUnavailable

    def broken(*_args: Any) -> int:
        raise StoreUnavailable("baseline: cannot write (simulated outage)")

    monkeypatch.setattr(Store, "start_run", broken)
    result, _ = run(store, [vm("a")], clock)
    assert result.status == "failed" and "simulated outage" in (result.error or "")
    assert store.lease_holder("src") is None
