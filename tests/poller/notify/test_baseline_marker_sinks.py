"""F25: the ``baseline_initialized`` marker of a silent first load through a real RabbitMQ
(topic bindings) and a real webhook receiver in CloudEvents format."""

from __future__ import annotations

import orjson
from cloudevents.http import from_http

from poller.notify.amqp import AmqpSink
from poller.notify.webhook import WebhookSink
from tests.poller.notify.conftest import Receiver, bind_exchange, make_records, unbind_exchange
from tests.poller.test_baseline_marker import marker_record


def test_F25_marker_reaches_a_queue_bound_to_baseline_initialized(amqp_url: str) -> None:
    """F25: a queue bound with #.baseline_initialized gets the marker (persistent, message_id its id), and no change."""
    only = bind_exchange(amqp_url, "#.baseline_initialized")
    sink = AmqpSink("bus", {"url": amqp_url, "exchange": only.exchange})
    try:
        marker = marker_record(seq=4)
        sink.deliver([*make_records(3), marker])
        messages = only.messages()
        assert [m.properties["message_id"] for m in messages] == [marker.id]
        assert messages[0].delivery_info["routing_key"] == "os1.poller.baseline.baseline_initialized"
        assert orjson.loads(messages[0].body)["baseline"]["entities"] == 5
    finally:
        sink.close()
        unbind_exchange(only)


def test_F25_marker_as_a_cloudevent_over_a_real_webhook(receiver: Receiver) -> None:
    """F25: with format: cloudevents the receiver gets the marker as a CloudEvent of type poller.baseline.initialized."""
    sink = WebhookSink("hook", {"url": receiver.url, "format": "cloudevents"})
    try:
        sink.deliver([marker_record()])
    finally:
        sink.close()
    accepted = receiver.accepted()
    assert len(accepted) == 1
    event = from_http(dict(accepted[0].headers), accepted[0].body)
    assert event["type"] == "poller.baseline.initialized" and event.get_data()["action"] == "baseline_initialized"
