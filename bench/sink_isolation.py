"""A slow webhook beside a jsonl file: when does each sink have its notifications?

Issue 12 measured a webhook answering in 3 s holding a jsonl sink back 31 s (one thread
delivered every sink in turn). This runs one static first load of ``--entities``
notifications into a SQLite outbox, then one ``deliver_pending()`` over a webhook (a
receiver on 127.0.0.1 answering each request after ``--delay`` seconds, one notification
per request) and a jsonl sink, and prints when each sink had all of them.

    python bench/sink_isolation.py --entities 10 --delay 3
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline.store import open_store  # noqa: E402
from collectors.static import StaticCollector  # noqa: E402
from poller.config import SourceConfig  # noqa: E402
from poller.notify.dispatch import Dispatcher  # noqa: E402
from poller.notify.jsonl import JsonlSink  # noqa: E402
from poller.notify.webhook import WebhookSink  # noqa: E402
from poller.run.source import RunSettings, run_source  # noqa: E402


def slow_receiver(delay: float, got: list[float]) -> http.server.ThreadingHTTPServer:
    """A webhook receiver answering 200 after ``delay`` seconds; records when each request was answered."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            got.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument("--delay", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/b.db")
        hook_times: list[float] = []
        server = slow_receiver(args.delay, hook_times)
        out = Path(tmp) / "out.jsonl"
        hook = WebhookSink("hook", {"url": f"http://127.0.0.1:{server.server_address[1]}/", "timeout": args.delay + 30})
        dispatcher = Dispatcher(store, [hook, JsonlSink("file", {"path": str(out)})])
        dispatcher.register_cursors()
        entities = [{"type": "vm", "key": f"k{i}", "attributes": {"i": i}} for i in range(args.entities)]
        source = SourceConfig(name="src", collector="static", options={"entities": entities})
        run_source(source, StaticCollector("src", {"entities": entities}), store,
                   RunSettings(clock=lambda: datetime.now(UTC)))
        jsonl_times: list[float] = []

        def watch() -> None:
            while not (out.exists() and len(out.read_bytes().splitlines()) == args.entities):
                time.sleep(0.01)
            jsonl_times.append(time.monotonic())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.monotonic()
        dispatcher.deliver_pending()
        while len(hook_times) < args.entities:
            time.sleep(0.01)
        dispatcher.deliver_pending(force=True)
        watcher.join()
        jsonl_at = jsonl_times[0] - start
        dispatcher.close()
        server.shutdown()
        store.close()
    print(f"{args.entities} notifications, webhook answering in {args.delay:g} s (one per request):")
    print(f"  jsonl had all of them after   {jsonl_at:.2f} s")
    print(f"  webhook had all of them after {hook_times[-1] - start:.2f} s")


if __name__ == "__main__":
    main()
