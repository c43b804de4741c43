"""kill -9 after the sink acknowledged some notifications but before the delivery was recorded:
the restarted process sends them again, with the same ids and the same bytes (F16)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.test_delivery_crash import poller_cmd


class AckingReceiver:
    """A webhook receiver on 127.0.0.1 that acknowledges the first ``ack_first`` requests at once,
    then hangs the next ones until ``release`` is set; it keeps every body as raw bytes."""

    def __init__(self, ack_first: int) -> None:
        self.ack_first = ack_first
        self.release = threading.Event()
        self.acked: list[bytes] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if len(receiver.acked) >= receiver.ack_first:
                    receiver.release.wait(60)
                receiver.acked.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[AckingReceiver]:
    r = AckingReceiver(ack_first=2)
    yield r
    r.close()


@pytest.mark.slow
def test_F16_acked_then_killed_is_redelivered_byte_identical(tmp_path: Path, receiver: AckingReceiver) -> None:
    """F16: two notifications acknowledged, the process killed before recording it: after a restart
    every notification arrives, repeats carry the same id and identical bytes, and a consumer that
    deduplicates by id sees each change exactly once."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text("".join(json.dumps({"type": "vm", "key": f"vm-{i}", "attributes": {"n": i}}) + "\n"
                                 for i in range(5)))
    config = tmp_path / "poller.yaml"
    config.write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"notify: {{sinks: [{{name: hook, type: webhook, url: '{receiver.url}', timeout: 60}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n"
    )
    proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "snapshot"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while receiver.requests < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(receiver.acked) == 2 and receiver.requests == 3, "two acknowledged, the third in flight"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    committed = [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]  # type: ignore[union-attr]
    assert len(committed) == 5
    first_bytes = {json.loads(b)["id"]: b for b in receiver.acked}
    receiver.ack_first = 1_000
    receiver.release.set()
    restart = subprocess.run([*poller_cmd(), "--config", str(config), "snapshot"], capture_output=True, text=True,
                             timeout=120)
    assert restart.returncode == 0, restart.stderr
    by_id: dict[str, list[bytes]] = {}
    for body in receiver.acked:
        by_id.setdefault(json.loads(body)["id"], []).append(body)
    assert set(by_id) == {n["id"] for n in committed}, "every committed notification arrived"
    assert all(len(set(copies)) == 1 for copies in by_id.values()), "a repeat is byte-identical"
    assert any(len(copies) > 1 for copies in by_id.values()), "something acknowledged was sent again"
    assert all(by_id[i][0] == b for i, b in first_bytes.items())
    effects = {json.loads(copies[0])["key"] for copies in by_id.values()}
    assert effects == {f"vm-{i}" for i in range(5)}
