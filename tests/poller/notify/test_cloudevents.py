"""Honest CloudEvents: whatever a sink labels ``application/cloudevents+json`` (or the batch
type) is a valid CloudEvent 1.0 read by the ``cloudevents`` SDK; the notification object is
labelled ``application/json`` (docs/decisions.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.conversion import from_dict
from cloudevents.http import CloudEvent, from_http

from poller.notification import Change, render
from poller.notify import amqp
from poller.notify.base import OutboxRecord
from poller.notify.jsonl import JsonlSink
from poller.notify.webhook import BATCH_CONTENT_TYPE, SINGLE_CONTENT_TYPE, WebhookSink
from tests.poller.notify.conftest import Receiver

# CloudEvents 1.0, "Attribute Naming Convention": lower-case ASCII letters and digits only.
ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")


def records(count: int) -> list[OutboxRecord]:
    """Real notifications, rendered by poller.notification from Changes."""
    out = []
    for seq in range(1, count + 1):
        change = Change(source="os1", entity_type="compute.server", key=f"vm-{seq}", action="update", version=seq,
                        epoch="e1", initial=False, time=datetime(2026, 11, 23, 8, 0, tzinfo=UTC), name=f"vm-{seq}",
                        parent=("compute.hypervisor", "h1"), state="ACTIVE", project="p1", hash="ab", previous_hash="cd",
                        changes=[{"path": "/flavor/name", "old": "m1.small", "new": "m1.large"}], previous=None,
                        entity={"id": f"vm-{seq}", "flavor": {"name": "m1.large"}}, run_id=7)
        out.append(OutboxRecord(seq, "os1", "compute.server", "update", change.id, render(change)))
    return out


def deliver(receiver: Receiver, **options: Any) -> list[Any]:
    sink = WebhookSink("hook", {"url": receiver.url, **options})
    try:
        sink.deliver(records(3))
    finally:
        sink.close()
    return receiver.accepted()


def assert_conformant(event: CloudEvent, record: OutboxRecord) -> None:
    attributes = event.get_attributes()
    assert all(ATTRIBUTE_NAME.fullmatch(name) for name in attributes), sorted(attributes)
    assert (attributes["specversion"], attributes["id"], attributes["source"]) == ("1.0", record.id, "os1")
    assert attributes["type"] == "poller.entity.updated" and attributes["datacontenttype"] == "application/json"
    assert event.get_data() == orjson.loads(record.body)


class TestWebhook:
    def test_cloudevents_format_is_read_by_the_sdk(self, receiver: Receiver) -> None:
        """format: cloudevents, one per request: the SDK reads each as a structured event whose data is the notification."""
        got = deliver(receiver, format="cloudevents")
        assert {r.headers["Content-Type"] for r in got} == {SINGLE_CONTENT_TYPE}
        for request, record in zip(got, records(3), strict=True):
            assert_conformant(from_http(dict(request.headers), request.body), record)

    def test_cloudevents_batches_hold_conformant_events(self, receiver: Receiver) -> None:
        """format: cloudevents batched: an array of events, each one valid for the SDK."""
        got = deliver(receiver, format="cloudevents", batch_size=3)
        assert [r.headers["Content-Type"] for r in got] == [BATCH_CONTENT_TYPE]
        events = orjson.loads(got[0].body)
        for event, record in zip(events, records(3), strict=True):
            assert_conformant(from_dict(CloudEvent, event), record)

    @pytest.mark.parametrize("batch_size", [1, 3])
    def test_default_notification_is_labelled_plain_json(self, receiver: Receiver, batch_size: int) -> None:
        """The default body (the notification object, whose member names are no valid CE attribute names) is
        labelled application/json, never as a CloudEvent."""
        got = deliver(receiver, batch_size=batch_size)
        assert {r.headers["Content-Type"] for r in got} == {"application/json; charset=utf-8"}
        note = orjson.loads(records(1)[0].body)
        assert not all(ATTRIBUTE_NAME.fullmatch(name) for name in note)  # e.g. entity_type, previous_hash


class TestOtherSinks:
    def test_amqp_labels_the_notification_plain_json(self) -> None:
        """The AMQP sink sends the notification object with content type application/json."""
        assert amqp.CONTENT_TYPE == "application/json"

    def test_notification_has_no_half_envelope(self) -> None:
        """The notification carries no datacontenttype (it has no data member): nothing half-claims CloudEvents."""
        note = orjson.loads(records(1)[0].body)
        assert "datacontenttype" not in note and "data" not in note

    def test_jsonl_lines_are_the_notification(self, tmp_path: Path) -> None:
        """A jsonl file holds the notification objects, one per line, as every other plain sink sends them."""
        sink = JsonlSink("file", {"path": str(tmp_path / "out.jsonl")})
        sink.deliver(records(2))
        lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
        assert lines == [r.body for r in records(2)]
