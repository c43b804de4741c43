"""``history`` and ``show`` over a real baseline (SQLite and PostgreSQL): one entity's changes and stored state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from poller import history, inventory, render
from poller.errors import ConfigError, UnknownEntity
from tests.poller.helpers import run, vm


def _three_runs(store, clock) -> None:
    """vm a created, resized, then put in maintenance; vm b created then deleted; a child c of a."""
    child = {"type": "vm", "key": "c", "name": "vm-c", "parent": {"type": "vm", "key": "a"}, "attributes": {}}
    run(store, [vm("a", flavor="small"), vm("b"), child], clock)
    clock.advance(3600)
    run(store, [vm("a", flavor="large"), child], clock)
    clock.advance(3600)
    run(store, [{**vm("a", flavor="large"), "state": "MAINTENANCE"}, child], clock)


class TestHistory:
    """Every recorded change of one entity, oldest first."""

    def test_changes_oldest_first_with_fields(self, store, clock) -> None:
        """vm/a: created, then /flavor small -> large, then state ACTIVE -> MAINTENANCE."""
        _three_runs(store, clock)
        found = history.entity_history(store, "vm", "a")
        assert [n["action"] for n in found.notes] == ["create", "update", "update"] and not found.pruned
        text = render.history_report(found.notes, "table", "History of vm/a")
        assert "/flavor: small -> large" in text and "state: ACTIVE -> MAINTENANCE" in text

    def test_deleted_entity_history(self, store, clock) -> None:
        """A deleted entity's history ends with its delete."""
        _three_runs(store, clock)
        assert [n["action"] for n in history.entity_history(store, "vm", "b").notes] == ["create", "delete"]

    def test_unknown_key(self, store, clock) -> None:
        """A key nobody knows raises UnknownEntity (exit 1) naming it."""
        _three_runs(store, clock)
        with pytest.raises(UnknownEntity, match="no entity vm/zzz"):
            history.entity_history(store, "vm", "zzz")

    def test_pruned_history_is_said(self, store, clock) -> None:
        """A history pruned by history_days says so in one line, and the entity is still known."""
        _three_runs(store, clock)
        store.prune_history(clock.now + timedelta(seconds=1), store.last_seq())
        found = history.entity_history(store, "vm", "a", history_days=30)
        assert found.pruned and found.notes == []
        remark = found.remark()
        assert remark is not None and "pruned" in remark and "30 days" in remark and "\n" not in remark

    def test_partly_pruned_history_is_said(self, store, clock) -> None:
        """When the create was pruned but later changes remain, the remark says older changes are missing."""
        _three_runs(store, clock)
        store.prune_history(clock.now - timedelta(seconds=3599), store.last_seq())
        found = history.entity_history(store, "vm", "a", history_days=1)
        assert [n["action"] for n in found.notes] == ["update"] and found.pruned
        assert "older changes are not recorded" in (found.remark() or "")

    def test_source_filter(self, store, clock) -> None:
        """--source names where to look: another source knows nothing of vm/a."""
        _three_runs(store, clock)
        with pytest.raises(UnknownEntity, match="in source other"):
            history.entity_history(store, "vm", "a", source="other")


class TestShow:
    """What the baseline holds for one entity now."""

    def test_fields_children_version(self, store, clock) -> None:
        """vm/a: its state, two changes (version 3), one child, and its stored attributes."""
        _three_runs(store, clock)
        view = inventory.entity_view(store, "vm", "a").as_dict()
        assert (view["state"], view["version"], view["children"]) == ("MAINTENANCE", 3, 1)
        assert view["attributes"]["attributes"]["flavor"] == "large"
        assert view["first_seen"] < view["last_changed"] and view["deleted_at"] is None

    def test_deleted_entity_is_its_tombstone(self, store, clock) -> None:
        """A deleted entity shows when it was deleted."""
        _three_runs(store, clock)
        assert inventory.entity_view(store, "vm", "b").as_dict()["deleted_at"] is not None

    def test_unknown_key(self, store, clock) -> None:
        """A key no source holds raises UnknownEntity."""
        _three_runs(store, clock)
        with pytest.raises(UnknownEntity):
            inventory.entity_view(store, "vm", "zzz")

    def test_ambiguous_key_needs_source(self, store, clock) -> None:
        """When two sources hold the same TYPE/KEY, --source is required (a usage error)."""
        from poller.config import SourceConfig

        _three_runs(store, clock)
        run(store, [vm("a")], clock, source=SourceConfig(name="other", collector="static", options={}))
        with pytest.raises(ConfigError, match="src, other|other, src"):
            inventory.entity_view(store, "vm", "a")
        assert inventory.entity_view(store, "vm", "a", "other").entity.source == "other"


class TestArguments:
    """Parsing what the entity views and the report take on the command line."""

    def test_ref_keeps_slashes_in_key(self) -> None:
        """TYPE/KEY splits at the first slash: a key may hold slashes (libvirt volume paths)."""
        assert history.parse_ref("libvirt.storage_volume//var/lib/a.qcow2") == ("libvirt.storage_volume", "/var/lib/a.qcow2")

    def test_ref_without_key_is_usage_error(self) -> None:
        """A reference without TYPE/ is a ConfigError (exit 2)."""
        with pytest.raises(ConfigError, match="TYPE/KEY"):
            history.parse_ref("compute.server")

    def test_zone_names(self) -> None:
        """--tz takes UTC, local and IANA names, and refuses anything else."""
        assert str(history.parse_tz("Europe/Berlin")) == "Europe/Berlin" and history.parse_tz("utc").utcoffset(None) is not None
        assert history.parse_tz("local") is not None
        with pytest.raises(ConfigError, match="--tz"):
            history.parse_tz("Mars/Olympus")

    def test_title_says_the_period(self) -> None:
        """A duration reads "in the last 2h", a time "since <time>"."""
        assert history.describe_since("2h") == "in the last 2h"
        assert history.describe_since("2026-11-01T00:00:00Z") == "since 2026-11-01T00:00:00Z"
