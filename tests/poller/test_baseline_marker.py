"""F25: every consumer of notifications takes the ``baseline_initialized`` marker of a silent
first load: CloudEvents envelope, AMQP routing key, callbacks, the report model and tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from cloudevents.conversion import from_dict
from cloudevents.http import CloudEvent

from poller.notification import BASELINE_INITIALIZED, BASELINE_TYPE, BaselineMarker, render_marker
from poller.notify import amqp
from poller.notify.base import OutboxRecord
from poller.notify.callbacks import CallbackSink
from poller.notify.webhook import cloudevent
from poller.report import model, text

MOMENT = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def marker_record(types: dict[str, int] | None = None, seq: int = 1) -> OutboxRecord:
    """A marker as the commit stores it: outbox columns and rendered body."""
    marker = BaselineMarker("os1", "e1", True, MOMENT, types or {"compute.server": 3, "network.port": 2}, run_id=7)
    return OutboxRecord(seq, "os1", BASELINE_TYPE, BASELINE_INITIALIZED, marker.id, render_marker(marker))


class TestMarkerBody:
    def test_F25_marker_carries_epoch_counts_and_every_member_of_a_change(self) -> None:
        """F25: the marker names its epoch and per-type counts and has every member a change has (nulls apart)."""
        note = orjson.loads(marker_record().body)
        assert note["type"] == "poller.baseline.initialized" and note["action"] == "baseline_initialized"
        assert note["baseline"] == {"new_epoch": True, "types": {"compute.server": 3, "network.port": 2}, "entities": 5}
        assert (note["epoch"], note["key"], note["initial"], note["entity"]) == ("e1", "e1", True, None)
        assert {"id", "source", "time", "entity_type", "key", "name", "parent", "changes", "previous"} <= set(note)

    def test_F25_marker_id_is_deterministic(self) -> None:
        """F25: the same run's marker has the same id; another run's a different one."""
        a = BaselineMarker("os1", "e1", True, MOMENT, {"vm": 1}, run_id=7)
        b = BaselineMarker("os1", "e1", True, MOMENT, {"vm": 1}, run_id=8)
        assert a.id == BaselineMarker("os1", "e1", True, MOMENT, {"vm": 1}, run_id=7).id and a.id != b.id


class TestSinks:
    def test_F25_cloudevents_envelope_of_the_marker(self) -> None:
        """F25: format: cloudevents wraps the marker as a conformant event of type poller.baseline.initialized."""
        record = marker_record()
        event = from_dict(CloudEvent, orjson.loads(cloudevent(record)))
        attributes = event.get_attributes()
        assert attributes["type"] == "poller.baseline.initialized" and attributes["id"] == record.id
        assert attributes["subject"] == "poller.baseline/e1" and event.get_data()["action"] == "baseline_initialized"

    def test_F25_amqp_routing_key_of_the_marker(self) -> None:
        """F25: the marker is routed as <source>.poller.baseline.baseline_initialized."""
        assert amqp.routing_key(marker_record()) == "os1.poller.baseline.baseline_initialized"

    def test_F25_callbacks_of_an_initialized_type_hear_the_marker(self) -> None:
        """F25: a subscriber of compute.* gets the marker of a load that initialized compute.server; one of dns.* not."""
        sink = CallbackSink("cb")
        compute: list[dict[str, Any]] = []
        dns: list[dict[str, Any]] = []
        everything: list[dict[str, Any]] = []
        sink.subscribe("compute.*", compute.append)
        sink.subscribe("dns.*", dns.append)
        sink.subscribe(None, everything.append)
        try:
            sink.deliver([marker_record()])
            assert sink.wait_idle(10)
        finally:
            sink.close()
        assert [n["action"] for n in compute] == ["baseline_initialized"] and dns == [] and len(everything) == 1


class TestReports:
    def test_F25_report_folds_the_marker_into_first_loads(self) -> None:
        """F25: a marker counts as its types' first-load creates, not as a change row of a pseudo type."""
        data = model.collect([orjson.loads(marker_record().body)])
        assert data.changes == [] and data.totals() == "5 created, 0 updated, 0 deleted"
        assert [(x.entity_type, x.count, x.silent) for x in data.first_loads()] == [
            ("compute.server", 3, True), ("network.port", 2, True)]
        assert [(r.entity_type, r.initial, r.created) for r in data.summary()] == [("compute.server", 3, 0), ("network.port", 2, 0)]

    def test_F25_text_table_names_the_marker(self) -> None:
        """F25: a notifications table shows the marker with its counts, not as an unknown action."""
        table = text.notifications_table([orjson.loads(marker_record().body)])
        assert "*baseline_initialized" in table and "compute.server 3, network.port 2" in table
