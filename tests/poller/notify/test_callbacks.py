"""CallbackSink: subscriptions, a worker thread that never blocks deliver, counted errors and drops, close."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from poller.errors import SinkConfigError
from poller.notify.base import OutboxRecord
from poller.notify.callbacks import CallbackSink
from tests.poller.notify.conftest import make_records


class Recorder:
    """A callback that records what it got and on which thread."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.threads: set[str] = set()

    def __call__(self, notification: dict[str, Any]) -> None:
        self.got.append(notification)
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def sink() -> Any:
    made = CallbackSink("lib", {"close_timeout": 2})
    yield made
    made.close()


class TestOptions:
    def test_kind_and_durability(self) -> None:
        """The class declares kind callback and is not durable."""
        assert (CallbackSink.kind, CallbackSink.durable) == ("callback", False)

    def test_defaults(self) -> None:
        """Without options the queue holds 10000 and close waits 5 s."""
        options = CallbackSink("lib").options
        assert (options.queue_size, options.close_timeout) == (10_000, 5.0)

    def test_close_timeout_takes_a_duration(self) -> None:
        """close_timeout accepts the config's duration strings; 0 means do not wait."""
        assert (CallbackSink("lib", {"close_timeout": "1m"}).options.close_timeout,
                CallbackSink("lib", {"close_timeout": 0}).options.close_timeout) == (60.0, 0.0)

    @pytest.mark.parametrize(
        ("field", "value"), [("queue_size", 0), ("queue_size", True), ("close_timeout", -1), ("close_timeout", "soon")]
    )
    def test_bad_values_name_the_field(self, field: str, value: Any) -> None:
        """Each invalid option value raises SinkConfigError naming that field."""
        with pytest.raises(SinkConfigError, match=rf"notify\.sinks\.lib\.{field}"):
            CallbackSink("lib", {field: value})

    def test_unknown_option(self) -> None:
        """An unknown option is an error naming it."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.lib\.threads: unknown option"):
            CallbackSink("lib", {"threads": 4})


class TestSubscriptions:
    def test_callback_gets_parsed_notifications_in_order_on_a_worker(self, sink: CallbackSink) -> None:
        """A subscriber receives each notification as a dict, in order, on the worker thread."""
        recorder = Recorder()
        sink.subscribe(None, recorder)
        sink.deliver(make_records(5))
        assert sink.wait_idle(2)
        assert [n["id"] for n in recorder.got] == [f"n-{i:04d}" for i in range(1, 6)]
        assert recorder.threads == {"poller-callbacks-lib"}

    def test_entity_type_filter(self, sink: CallbackSink) -> None:
        """A subscription to cloudstack.* sees only cloudstack types; a single name string works too."""
        globbed, exact = Recorder(), Recorder()
        sink.subscribe(["cloudstack.*"], globbed)
        sink.subscribe("compute.server", exact)
        sink.deliver(make_records(2) + make_records(3, source="cs1", entity_type="cloudstack.host"))
        assert sink.wait_idle(2)
        assert [n["entity_type"] for n in globbed.got] == ["cloudstack.host"] * 3
        assert [n["entity_type"] for n in exact.got] == ["compute.server"] * 2

    def test_cancel_stops_calls(self, sink: CallbackSink) -> None:
        """After cancel() the callback receives nothing more."""
        recorder = Recorder()
        subscription = sink.subscribe(None, recorder)
        sink.deliver(make_records(1))
        assert sink.wait_idle(2)
        subscription.cancel()
        sink.deliver(make_records(2))
        assert sink.wait_idle(2) and len(recorder.got) == 1

    def test_unwanted_records_are_not_queued(self, sink: CallbackSink) -> None:
        """Records no subscription wants never take queue space and are not counted as dropped."""
        sink.subscribe("network.port", Recorder())
        sink.deliver(make_records(50))
        assert (sink._queue.qsize(), sink.dropped) == (0, 0)

    def test_bad_entity_types(self, sink: CallbackSink) -> None:
        """An empty list of entity types is a ValueError, not a silent no-op subscription."""
        with pytest.raises(ValueError, match="entity_types"):
            sink.subscribe([], Recorder())


class TestNeverBlocks:
    def test_slow_callback_never_blocks_deliver(self, sink: CallbackSink) -> None:
        """While a callback is stuck, delivering 1000 notifications returns at once and they run later."""
        release = threading.Event()
        recorder = Recorder()

        def slow(notification: dict[str, Any]) -> None:
            release.wait(5)
            recorder(notification)

        sink.subscribe(None, slow)
        started = time.monotonic()
        for _ in range(10):
            sink.deliver(make_records(100))
        elapsed = time.monotonic() - started
        assert elapsed < 0.5 and recorder.got == []
        release.set()
        assert sink.wait_idle(5) and len(recorder.got) == 1000

    def test_full_queue_drops_and_counts(self) -> None:
        """With the worker stuck and the queue full, further notifications are dropped, counted and logged."""
        sink = CallbackSink("lib", {"queue_size": 3, "close_timeout": 0.1})
        release = threading.Event()
        sink.subscribe(None, lambda notification: release.wait(5))
        with capture_logs() as logs:
            sink.deliver(make_records(1))
            time.sleep(0.1)  # the worker takes the first one and blocks in the callback
            sink.deliver(make_records(10))
        assert sink.dropped == 7
        assert [e["event"] for e in logs] == ["callback_dropped"] and logs[0]["reason"] == "queue_full"
        release.set()
        sink.close()


class TestErrors:
    def test_exceptions_are_logged_counted_and_isolated(self, sink: CallbackSink) -> None:
        """A raising callback is logged as callback_failed and counted; other callbacks and later records still run."""
        recorder = Recorder()

        def broken(notification: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        sink.subscribe(None, broken)
        sink.subscribe(None, recorder)
        with capture_logs() as logs:
            sink.deliver(make_records(3))
            assert sink.wait_idle(2)
        assert (sink.errors, sink.calls, len(recorder.got)) == (3, 3, 3)
        failed = [e for e in logs if e["event"] == "callback_failed"]
        assert [e["notification_id"] for e in failed] == ["n-0001", "n-0002", "n-0003"]
        assert failed[0]["error_type"] == "RuntimeError" and failed[0]["callback"].endswith("broken")

    def test_unparsable_body_is_counted(self, sink: CallbackSink) -> None:
        """A body that is not JSON is counted as an error and does not stop the worker."""
        recorder = Recorder()
        sink.subscribe(None, recorder)
        bad = OutboxRecord(1, "os1", "compute.server", "create", "bad", b"{not json")
        sink.deliver([bad, *make_records(1)])
        assert sink.wait_idle(2)
        assert (sink.errors, len(recorder.got)) == (1, 1)


class TestClose:
    def test_close_drains_the_queue(self) -> None:
        """close() lets the worker finish what is queued, then stops it."""
        sink = CallbackSink("lib", {"close_timeout": 5})
        recorder = Recorder()
        def slowish(notification: dict[str, Any]) -> None:
            time.sleep(0.001)
            recorder(notification)

        sink.subscribe(None, slowish)
        sink.deliver(make_records(200))
        sink.close()
        assert len(recorder.got) == 200 and not sink._worker.is_alive()  # type: ignore[union-attr]

    def test_close_gives_up_after_timeout(self) -> None:
        """With a stuck callback, close() returns after close_timeout and counts the rest as dropped."""
        sink = CallbackSink("lib", {"close_timeout": 0.2})
        release = threading.Event()
        sink.subscribe(None, lambda n: release.wait(5))
        sink.deliver(make_records(5))
        time.sleep(0.05)
        started = time.monotonic()
        with capture_logs() as logs:
            sink.close()
        assert time.monotonic() - started < 1.0
        assert sink.dropped == 4 and logs[0]["event"] == "callback_close_timeout"
        release.set()
        sink._worker.join(2)  # type: ignore[union-attr]
        assert not sink._worker.is_alive()  # type: ignore[union-attr]

    def test_close_during_delivery_accounts_for_everything(self) -> None:
        """Closing while another thread delivers leaves every notification either handled or counted as dropped."""
        sink = CallbackSink("lib", {"close_timeout": 10})
        sink.subscribe(None, lambda n: None)
        records = make_records(200)
        def feed() -> None:
            for _ in range(50):
                sink.deliver(records)

        feeder = threading.Thread(target=feed)
        feeder.start()
        time.sleep(0.01)
        sink.close()
        feeder.join()
        assert sink.calls + sink.dropped == 200 * 50

    def test_deliver_after_close_drops(self) -> None:
        """After close(), delivered notifications are dropped and counted, never run."""
        sink = CallbackSink("lib")
        recorder = Recorder()
        sink.subscribe(None, recorder)
        sink.close()
        sink.deliver(make_records(2))
        assert (sink.dropped, recorder.got) == (2, [])
