"""The report model: field changes (previous included), escapes, summaries, timeline buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from poller.report import model
from tests.poller.report.notes import demo_notes, note


class TestFieldChanges:
    """Every changed field of an update, ``previous`` included."""

    def test_state_change_from_previous(self) -> None:
        """db-1's state change, carried only in ``previous``, is a field change up -> maintenance."""
        update = demo_notes()[5]
        assert model.field_changes(update) == [model.FieldChange("state", "up", "maintenance")]

    def test_name_parent_project_first_then_paths(self) -> None:
        """name, parent and project come first (in that order), then the attributes' paths."""
        fields = [c.field for c in model.field_changes(demo_notes()[8])]
        assert fields == ["name", "parent", "project", "/name"]

    def test_parent_shown_as_type_slash_key(self) -> None:
        """A parent value reads as type/key, not as a JSON object."""
        change = model.field_changes(demo_notes()[8])[1]
        assert (model.value_text(change.old), model.value_text(change.new)) == ("compute.hypervisor/hv-1", "compute.hypervisor/hv-2")


class TestVisible:
    """Control characters never reach a report raw (B18, S09)."""

    def test_newline_and_ansi_escape_are_shown(self) -> None:
        """B18: a newline and an ANSI colour escape become visible escapes."""
        assert model.visible("a\nb\x1b[31mc\r") == "a\\nb\\e[31mc\\r"

    def test_bidi_override_is_shown(self) -> None:
        """B18: a right-to-left override cannot reorder what a reader sees."""
        assert model.visible("evil\u202egnp.exe") == "evil\\u202egnp.exe"


class TestGrouping:
    """Summary per source and type; first loads apart."""

    def test_summary_counts_first_loads_apart(self) -> None:
        """The static server type counts 3 first-load creates apart from 1 create, 2 updates, 1 delete."""
        rows = {(r.source, r.entity_type): r for r in model.summary(demo_notes())}
        server = rows[("demo-static", "server")]
        assert (server.initial, server.created, server.updated, server.deleted) == (3, 1, 2, 1)

    def test_first_loads_fold_per_type(self) -> None:
        """First-load creates fold into one group per (source, type); the rest stay in order."""
        data = model.collect(demo_notes())
        assert [(x.entity_type, x.count) for x in data.first_loads()] == [("rack", 1), ("server", 3)]
        assert [n["key"] for n in data.changes] == ["s1", "s2", "s4", "s3", "vm-9"]

    def test_first_load_sample_is_bounded(self) -> None:
        """A large first load keeps a count and a bounded sample, not every notification."""
        data = model.collect((note("create", f"k{i}", f"n{i}", initial=True) for i in range(5000)), keep=100)
        load = data.first_loads()[0]
        assert (load.count, len(load.sample), data.changes) == (5000, 100, [])

    def test_unfolded_keeps_every_note(self) -> None:
        """Without folding (an entity's history) first-load creates stay changes."""
        assert len(model.collect(demo_notes(), fold_initial=False).changes) == len(demo_notes())


class TestTimeline:
    """Changes per hour (short periods) or per day, in the report's zone."""

    def test_hourly_buckets_over_a_day(self) -> None:
        """A 24-hour period has 25 hourly buckets and the changes land in the 17:00 one."""
        end = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
        line = model.timeline(model.collect(demo_notes()), end - timedelta(hours=24), end, UTC)
        assert line.unit == "hour" and len(line.buckets) == 25
        at_17 = [b for b in line.buckets if b.start.hour == 17][-1]
        assert dict(at_17.counts) == {"update": 3, "create": 1, "delete": 1} and at_17.initial == 4

    def test_daily_buckets_in_zone(self) -> None:
        """A week-long period is bucketed per day, starting at midnight in the report's zone."""
        berlin = ZoneInfo("Europe/Berlin")
        end = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
        line = model.timeline(model.collect([note("create", "k", "n")]), end - timedelta(days=7), end, berlin)
        assert line.unit == "day" and all(b.start.hour == 0 and b.start.tzinfo is berlin for b in line.buckets)
        assert sum(sum(b.counts.values()) for b in line.buckets) == 1

    def test_time_shown_with_zone(self) -> None:
        """Times carry their zone's name."""
        moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
        assert model.when(moment, ZoneInfo("Europe/Berlin")) == "2026-07-01 14:00:00 CEST"
