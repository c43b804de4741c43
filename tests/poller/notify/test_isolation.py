"""Durable sinks deliver independently (issue 12, item 5; F20): a webhook that hangs or refuses
connections never holds back a jsonl sink, and catches up later from its own cursor."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from baseline.store import Store
from poller.notify.dispatch import Dispatcher
from poller.notify.jsonl import JsonlSink
from poller.notify.webhook import WebhookSink
from tests.poller.helpers import run, vm

SAFETY = 60.0  # seconds a blocked handler waits at most, so a broken test cannot hang forever


class HangingReceiver:
    """A webhook receiver on 127.0.0.1 whose every answer waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()  # a request is being held
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.entered.set()
                receiver.release.wait(SAFETY)
                with receiver._lock:
                    receiver.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def ids(self) -> list[str]:
        """The notification ids received, in order (a batch is a JSON array)."""
        with self._lock:
            out = []
            for body in self.bodies:
                doc = orjson.loads(body)
                out.extend(n["id"] for n in (doc if isinstance(doc, list) else [doc]))
            return out

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    """A receiver that holds every request until released."""
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


def wait_for(condition: Any, what: str) -> None:
    """Wait (bounded, not timed) until ``condition()`` holds."""
    done = threading.Event()
    for _ in range(int(SAFETY / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError(f"never happened: {what}")


def file_ids(path: Path) -> list[str]:
    return [orjson.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []


def outbox_ids(store: Store) -> list[str]:
    return [row.id for row in store.history()]


class TestSinkIsolation:
    def test_F20_jsonl_gets_everything_while_the_webhook_hangs(
        self, store: Store, clock: Any, tmp_path: Path, hanging: HangingReceiver,
    ) -> None:
        """F20: with the webhook blocked mid-request, the jsonl sink already holds every notification;
        released, the webhook catches up from its own cursor, in order."""
        out = tmp_path / "out.jsonl"
        hook = WebhookSink("hook", {"url": hanging.url, "timeout": SAFETY, "batch_size": 1})
        dispatcher = Dispatcher(store, [hook, JsonlSink("file", {"path": str(out)})])  # the webhook first
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b"), vm("c")], clock)
        assert dispatcher.deliver_pending() == 0  # nudges the sinks' threads, waits for none
        wait_for(lambda: len(file_ids(out)) == 3 and hanging.entered.is_set(),
                 "the jsonl sink got its three notifications and the webhook's first request is held")
        assert not hanging.release.is_set()
        assert file_ids(out) == outbox_ids(store) and hanging.ids() == []
        assert store.cursor("hook").position == 0  # type: ignore[union-attr]
        hanging.release.set()
        dispatcher.deliver_pending(force=True)
        dispatcher.close()
        assert hanging.ids() == outbox_ids(store)
        assert dispatcher.backlog() == {"hook": 0, "file": 0}

    def test_F20_webhook_down_then_catches_up_from_its_own_cursor(
        self, store: Store, clock: Any, tmp_path: Path, hanging: HangingReceiver,
    ) -> None:
        """F20: a webhook refusing connections keeps its backlog while jsonl delivers; it catches up later."""
        out = tmp_path / "out.jsonl"
        hanging.release.set()
        closed = HangingReceiver()
        closed.close()  # its port now refuses connections
        down = WebhookSink("hook", {"url": closed.url, "timeout": 5})
        dispatcher = Dispatcher(store, [down, JsonlSink("file", {"path": str(out)})])
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b")], clock)
        assert dispatcher.deliver_pending(force=True) == 2
        assert file_ids(out) == outbox_ids(store) and dispatcher.backlog() == {"hook": 2, "file": 0}
        dispatcher.close()
        up = Dispatcher(store, [WebhookSink("hook", {"url": hanging.url, "timeout": 5}),
                                JsonlSink("file", {"path": str(out)})])
        assert up.deliver_pending(force=True) == 2
        up.close()
        assert hanging.ids() == outbox_ids(store) and file_ids(out) == outbox_ids(store)

    def test_close_is_bounded_while_a_sink_hangs(
        self, store: Store, clock: Any, tmp_path: Path, hanging: HangingReceiver,
    ) -> None:
        """Closing the dispatcher does not wait past stop_timeout for a hanging sink; its cursor stays put."""
        out = tmp_path / "out.jsonl"
        hook = WebhookSink("hook", {"url": hanging.url, "timeout": SAFETY})
        dispatcher = Dispatcher(store, [hook, JsonlSink("file", {"path": str(out)})], stop_timeout=0.2)
        dispatcher.register_cursors()
        run(store, [vm("a")], clock)
        dispatcher.deliver_pending()
        wait_for(lambda: hanging.entered.is_set() and len(file_ids(out)) == 1, "both sinks started delivering")
        dispatcher.close()
        assert not hanging.release.is_set() and hanging.ids() == []
        assert store.cursor("hook").position == 0 and store.cursor("file").position > 0  # type: ignore[union-attr]

    def test_forced_pass_reports_what_each_sink_delivered(self, store: Store, clock: Any, tmp_path: Path) -> None:
        """deliver_pending(force=True) waits for every sink's pass and sums what they delivered."""
        sinks = [JsonlSink(name, {"path": str(tmp_path / f"{name}.jsonl")}) for name in ("one", "two")]
        dispatcher = Dispatcher(store, sinks)
        dispatcher.register_cursors()
        run(store, [vm("a"), vm("b")], clock)
        assert dispatcher.deliver_pending(force=True) == 4
        assert dispatcher.deliver_pending(force=True) == 0
        dispatcher.close()
