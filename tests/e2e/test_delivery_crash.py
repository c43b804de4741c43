"""kill -9 between the baseline commit and delivery: after a restart the pending
notifications are delivered, in order, with the ids they were committed with."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A webhook receiver on 127.0.0.1 that hangs every request while ``stalled`` is set."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.bodies: list[dict] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                while receiver.stalled.is_set():
                    time.sleep(0.05)
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.stalled.clear()
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def poller_cmd() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


@pytest.mark.slow
def test_kill_between_commit_and_delivery(tmp_path: Path, receiver: Receiver) -> None:
    """F15: A snapshot killed while delivering leaves its notifications pending; the next process delivers them."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text("".join(json.dumps({"type": "vm", "key": f"vm-{i}"}) + "\n" for i in range(5)))
    config = tmp_path / "poller.yaml"
    config.write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"notify: {{sinks: [{{name: hook, type: webhook, url: '{receiver.url}', timeout: 60}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n"
    )
    receiver.stalled.set()
    proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "snapshot"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while receiver.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.requests == 1, "the snapshot should be stuck delivering its first notification"
    os.kill(proc.pid, signal.SIGKILL)  # after the commit, during delivery
    proc.wait(timeout=10)
    committed = [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]  # type: ignore[union-attr]
    assert len(committed) == 5, "the run had committed and printed its notifications before delivery"
    receiver.stalled.clear()
    time.sleep(0.2)
    receiver.bodies.clear()  # the hung request may or may not complete: at least once allows it
    restart = subprocess.run([*poller_cmd(), "--config", str(config), "snapshot"], capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr
    assert restart.stdout.strip() == "", "nothing changed in the inventory"
    assert [b["id"] for b in receiver.bodies] == [n["id"] for n in committed]
