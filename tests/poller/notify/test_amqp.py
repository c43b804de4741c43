"""AmqpSink: option checks, errors without a broker, and delivery against a real RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import amqp.exceptions
import kombu
import orjson
import pytest

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.amqp import AmqpSink, routing_key, safe_broker
from poller.notify.base import OutboxRecord
from tests.poller.notify.conftest import Bound, RabbitControl, _unavailable, bind_exchange, drive, make_records, raw_body, unbind_exchange

_OPENED: list[AmqpSink] = []


def sink_for(url: str, **options: Any) -> AmqpSink:
    """A sink on ``url``, closed after the test."""
    sink = AmqpSink("bus", {"url": url, **options})
    _OPENED.append(sink)
    return sink


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


class TestOptions:
    def test_defaults(self) -> None:
        """Only url is required; exchange defaults to poller and timeout to 10 s."""
        options = sink_for("amqp://127.0.0.1//").options
        assert (options.exchange, options.timeout) == ("poller", 10.0)

    def test_timeout_takes_a_duration(self) -> None:
        """timeout accepts the config's duration strings as well as numbers."""
        assert sink_for("amqp://127.0.0.1//", timeout="30s").options.timeout == 30.0

    def test_kind_and_durability(self) -> None:
        """The class declares kind amqp and is durable."""
        assert (AmqpSink.kind, AmqpSink.durable) == ("amqp", True)

    def test_url_required(self) -> None:
        """A missing url is an error naming notify.sinks.<name>.url."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.bus\.url: is required"):
            AmqpSink("bus", {})

    def test_url_scheme_checked_without_echoing_it(self) -> None:
        """A non-AMQP url is refused, and the error does not repeat the password."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.bus\.url") as info:
            sink_for("http://guest:pw-canary@127.0.0.1:5672//")
        assert "pw-canary" not in str(info.value)

    @pytest.mark.parametrize(
        ("field", "value"), [("exchange", ""), ("exchange", "amq.topic"), ("exchange", 3), ("timeout", -1)]
    )
    def test_bad_values_name_the_field(self, field: str, value: Any) -> None:
        """Each invalid option value raises SinkConfigError naming that field."""
        with pytest.raises(SinkConfigError, match=rf"notify\.sinks\.bus\.{field}"):
            sink_for("amqp://127.0.0.1//", **{field: value})

    def test_unknown_option(self) -> None:
        """An unknown option is an error naming it."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.bus\.queue: unknown option"):
            sink_for("amqp://127.0.0.1//", queue="q")


class TestHelpers:
    def test_routing_key(self) -> None:
        """The routing key is <source>.<entity_type>.<action>."""
        record = OutboxRecord(1, "os1", "compute.server", "update", "id", b"{}")
        assert routing_key(record) == "os1.compute.server.update"

    def test_safe_broker_has_no_credentials(self) -> None:
        """safe_broker shows host, port and vhost only."""
        assert safe_broker("amqp://poller:pw@rabbit:5673/%2Fprod") == "rabbit:5673 vhost /prod"

    def test_safe_broker_defaults(self) -> None:
        """Without port or vhost, safe_broker shows the scheme's port and vhost /."""
        assert (safe_broker("amqps://h"), safe_broker("amqp://u:p@h//")) == ("h:5671 vhost /", "h:5672 vhost /")


class TestWithoutBroker:
    def test_unreachable_broker_is_retryable_and_fast(self, closed_port: int) -> None:
        """A refused connection raises a retryable error at once, with nothing delivered and no password."""
        sink = sink_for(f"amqp://guest:pw-canary-9@127.0.0.1:{closed_port}//")
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            sink.deliver(make_records(3))
        assert time.monotonic() - started < 1.0
        assert (info.value.retryable, info.value.delivered) == (True, 0)
        assert "connection refused" in str(info.value) and f"127.0.0.1:{closed_port}" in str(info.value)
        assert "pw-canary-9" not in str(info.value) + "".join(traceback.format_exception(info.value))

    def test_empty_batch_needs_no_broker(self, closed_port: int) -> None:
        """Delivering nothing does not connect."""
        sink_for(f"amqp://127.0.0.1:{closed_port}//").deliver([])


def _mixed_records() -> list[OutboxRecord]:
    records = make_records(6) + make_records(6, source="cs1", entity_type="cloudstack.host")
    return [OutboxRecord(i, r.source, r.entity_type, r.action, f"{r.source}-{r.id}", r.body) for i, r in
            enumerate(records)]


@pytest.mark.rabbitmq
class TestWithBroker:
    def test_every_notification_arrives_persistent_with_routing_key(self, bound: Bound) -> None:
        """A bound consumer gets every notification in order: body, routing key, id, JSON, persistent."""
        records = _mixed_records()
        sink = sink_for(bound.url, exchange=bound.exchange)
        sink.deliver(records)
        sink.close()
        got = bound.messages()
        assert [m.delivery_info["routing_key"] for m in got] == [routing_key(r) for r in records]
        assert [m.properties["message_id"] for m in got] == [r.id for r in records]
        assert [raw_body(m.body) for m in got] == [r.body for r in records]
        assert {(m.properties["delivery_mode"], m.content_type) for m in got} == {(2, "application/json")}

    def test_exchange_is_a_durable_topic(self, bound: Bound) -> None:
        """The sink's exchange is declared durable: redeclaring it as non-durable is refused by the broker."""
        sink_for(bound.url, exchange=bound.exchange).deliver(make_records(1))
        with kombu.Connection(bound.url) as connection, pytest.raises(amqp.exceptions.PreconditionFailed):
            kombu.Exchange(bound.exchange, type="topic", durable=False)(connection.channel()).declare()

    def test_wrong_password_is_retryable_and_not_shown(self, bound: Bound) -> None:
        """Refused credentials raise a retryable ACCESS_REFUSED error that never shows the password."""
        url = bound.url.replace("guest:guest@", "guest:wrong-canary-7@")
        if url == bound.url:
            _unavailable("the broker URL under test does not use guest:guest")
        with pytest.raises(DeliveryError) as info:
            sink_for(url, exchange=bound.exchange).deliver(make_records(1))
        assert info.value.retryable and "ACCESS_REFUSED" in str(info.value)
        assert "wrong-canary-7" not in str(info.value) + "".join(traceback.format_exception(info.value))

    def test_exchange_of_another_type_is_reported(self, amqp_url: str) -> None:
        """An existing exchange of another type fails the declaration with a retryable PRECONDITION_FAILED."""
        name = f"poller-test-{uuid.uuid4().hex[:10]}"
        with kombu.Connection(amqp_url) as connection:
            kombu.Exchange(name, type="direct", durable=True)(connection.channel()).declare()
        try:
            with pytest.raises(DeliveryError) as info:
                sink_for(amqp_url, exchange=name).deliver(make_records(1))
        finally:
            with kombu.Connection(amqp_url) as connection:
                connection.channel().exchange_delete(name)
        assert (info.value.retryable, info.value.delivered) == (True, 0)
        assert "declare the exchange" in str(info.value) and "PRECONDITION_FAILED" in str(info.value)

    def test_overlong_routing_key_is_refused_and_connection_kept(self, bound: Bound) -> None:
        """A routing key over 255 bytes parks that record after the ones before it; the connection stays up."""
        records = make_records(2)
        long = OutboxRecord(3, "os1", "x" * 300, "create", "long-1", b"{}")
        sink = sink_for(bound.url, exchange=bound.exchange)
        with pytest.raises(DeliveryError) as info:
            sink.deliver([*records, long])
        connection = sink._connection
        sink.deliver(make_records(3)[2:])
        assert (info.value.retryable, info.value.delivered) == (False, 2) and "long-1" in str(info.value)
        assert connection is not None and sink._connection is connection
        assert len(bound.messages()) == 3

    def test_topic_bindings_select(self, amqp_url: str) -> None:
        """A queue bound with cs1.#.delete receives only cs1's deletions."""
        only = bind_exchange(amqp_url, "cs1.#.delete")
        try:
            records = _mixed_records()
            sink_for(amqp_url, exchange=only.exchange).deliver(records)
            expected = [r.id for r in records if r.source == "cs1" and r.action == "delete"]
            assert [m.properties["message_id"] for m in only.messages()] == expected
        finally:
            unbind_exchange(only)

    def test_reconnects_after_connection_loss(self, private_bound: Bound, rabbit_control: RabbitControl) -> None:
        """After the broker closes the kept connection while idle, the next deliver reconnects and succeeds."""
        records = make_records(20)
        sink = sink_for(private_bound.url, exchange=private_bound.exchange)
        sink.deliver(records[:10])
        first = sink._connection
        rabbit_control.run("close_all_connections", "test")
        time.sleep(0.2)
        sink.deliver(records[10:])
        assert sink._connection is not first
        sink.close()
        ids = [m.properties["message_id"] for m in private_bound.messages()]
        assert list(dict.fromkeys(ids)) == [r.id for r in records]

    def test_connection_lost_twice_is_the_callers_to_retry(self, private_bound: Bound, rabbit_control: RabbitControl) -> None:
        """With the broker down, deliver tries a fresh connection once, then fails retryably; later it recovers."""
        records = make_records(10)
        sink = sink_for(private_bound.url, exchange=private_bound.exchange)
        sink.deliver(records[:5])
        rabbit_control.stop_app()
        try:
            with pytest.raises(DeliveryError) as info:
                sink.deliver(records[5:])
        finally:
            rabbit_control.start_app()
        assert (info.value.retryable, info.value.delivered) == (True, 0)
        assert "connection refused" in str(info.value) and f"127.0.0.1:{rabbit_control.node.port}" in str(info.value)
        sink.deliver(records[5:])
        sink.close()
        ids = [m.properties["message_id"] for m in private_bound.messages()]
        assert list(dict.fromkeys(ids)) == [r.id for r in records]

    def test_broker_refusing_a_message_parks_it(self, private_bound: Bound, rabbit_control: RabbitControl) -> None:
        """A message over the broker's max_message_size is refused for good, after the ones before it."""
        rabbit_control.run("eval", "application:set_env(rabbit, max_message_size, 4096).")
        try:
            records = make_records(3)
            big = OutboxRecord(9, "os1", "compute.server", "update", "big", orjson.dumps({"x": "y" * 8000}))
            with pytest.raises(DeliveryError) as info:
                sink_for(private_bound.url, exchange=private_bound.exchange).deliver([*records, big])
        finally:
            rabbit_control.run("eval", "application:unset_env(rabbit, max_message_size).")
        assert (info.value.retryable, info.value.delivered) == (False, 3)
        assert "PRECONDITION_FAILED" in str(info.value) and "big" in str(info.value)

    @pytest.mark.slow
    def test_broker_restart_mid_stream_loses_nothing(self, private_bound: Bound, rabbit_control: RabbitControl) -> None:
        """With RabbitMQ stopped and started mid-stream, a retrying driver gets every notification through in order."""
        records = make_records(200)
        sink = sink_for(private_bound.url, exchange=private_bound.exchange, timeout=5)
        calls = {"deliver": 0, "failed": 0}

        class StopsBrokerOnCall15:
            def deliver(self, batch: Sequence[OutboxRecord]) -> None:
                calls["deliver"] += 1
                if calls["deliver"] == 15:
                    rabbit_control.stop_app()
                sink.deliver(batch)

        def on_failure(exc: DeliveryError) -> None:
            calls["failed"] += 1
            if calls["failed"] == 3:
                rabbit_control.start_app()
            time.sleep(0.1)

        failures = drive(StopsBrokerOnCall15(), records, on_failure=on_failure)
        sink.close()
        got = private_bound.messages()
        ids = [m.properties["message_id"] for m in got]
        assert len(failures) >= 3
        assert list(dict.fromkeys(ids)) == [r.id for r in records]
        assert {m.properties["delivery_mode"] for m in got} == {2}

    @pytest.mark.slow
    def test_stop_mid_batch_counts_only_confirmed(self, private_bound: Bound, rabbit_control: RabbitControl) -> None:
        """F19: Stopped in the middle of a batch, the sink reports as delivered only messages that survive the restart."""
        records = make_records(3000)
        sink = sink_for(private_bound.url, exchange=private_bound.exchange, timeout=5)
        sink.deliver(records[:1])
        stopper = threading.Timer(0.05, rabbit_control.stop_app)
        stopper.start()
        with pytest.raises(DeliveryError) as info:
            sink.deliver(records[1:])
        stopper.join()
        rabbit_control.start_app()
        confirmed = 1 + info.value.delivered
        assert info.value.retryable and 1 < confirmed < len(records)
        survivors = {m.properties["message_id"] for m in private_bound.messages()}
        assert {r.id for r in records[:confirmed]} <= survivors


class TestBrokerFixture:
    TARGET = "tests/poller/notify/test_amqp.py::TestWithBroker::test_exchange_is_a_durable_topic"

    def _run(self, closed_port: int, ci: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env["POLLER_TEST_AMQP_URL"] = f"amqp://guest:guest@127.0.0.1:{closed_port}//"
        if ci is not None:
            env["CI"] = ci
        root = Path(__file__).resolve().parents[3]
        command = [sys.executable, "-m", "pytest", self.TARGET, "-q", "-p", "no:cacheprovider"]
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)

    def test_missing_broker_skips_locally(self, closed_port: int) -> None:
        """Without CI=true, an unreachable broker skips the RabbitMQ tests."""
        result = self._run(closed_port, None)
        assert result.returncode == 0 and "1 skipped" in result.stdout

    def test_missing_broker_fails_in_ci(self, closed_port: int) -> None:
        """With CI=true, an unreachable broker fails the RabbitMQ tests instead of skipping them."""
        result = self._run(closed_port, "true")
        assert result.returncode != 0 and "CI=true" in result.stdout
