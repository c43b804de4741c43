"""``poller serve`` as a subprocess: events POSTed to it become notifications in the sink, SIGTERM stops it."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collectors.openstack.emulator import OpenStackEmulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-evt-token-" + uuid.uuid4().hex


def exe() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
    env["EVT_TOKEN"] = TOKEN
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(port: int, body: bytes, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/v1/sources/os1/events", body=body, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("poller serve did not start listening")


@pytest.fixture
def emulator() -> Iterator[OpenStackEmulator]:
    with OpenStackEmulator() as emu:
        emu.seed_demo()
        yield emu


def write_config(tmp_path: Path, emu: OpenStackEmulator, port: int, events: bool = True) -> Path:
    doc = {
        "baseline": {"url": f"sqlite:///{tmp_path / 'b.db'}"},
        "notify": {"sinks": [{"name": "file", "type": "jsonl", "path": str(tmp_path / "out.jsonl")}]},
        "sources": [{"name": "os1", "collector": "openstack", "options": emu.source_options(),
                     "entity_types": ["compute.server"]}],
    }
    if events:
        doc["events"] = {"http": {"port": port}, "sources": {"os1": {"token": "${EVT_TOKEN}"}}}
    path = tmp_path / "poller.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def oslo(event_type: str, server_id: str) -> bytes:
    message = {"event_type": event_type, "priority": "INFO", "publisher_id": "compute.h1",
               "payload": {"instance_id": server_id}}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


@pytest.mark.slow
def test_serve_turns_events_into_notifications(tmp_path: Path, emulator: OpenStackEmulator) -> None:
    """After a snapshot, `poller serve` turns a POSTed event into the update notification; SIGTERM exits 0."""
    port = free_port()
    config = write_config(tmp_path, emulator, port)
    first = subprocess.run([*exe(), "--config", str(config), "snapshot"], env=environ(), capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "out.jsonl").unlink()
    proc = subprocess.Popen([*exe(), "--config", str(config), "serve"], env=environ(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        server = emulator.seeded.servers[0]
        emulator.cloud.update("compute.server", server["id"], name="pushed")
        assert post(port, oslo("compute.instance.update", server["id"]), "wrong-token") == 401
        assert post(port, oslo("compute.instance.update", server["id"]), TOKEN) == 202
        sink = tmp_path / "out.jsonl"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (sink.exists() and sink.read_text().strip()):
            time.sleep(0.05)
        notes = [json.loads(line) for line in sink.read_text().splitlines()]
        assert [(n["action"], n["name"]) for n in notes] == [("update", "pushed")]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"serving events (HTTP http://127.0.0.1:{port})" in err
    assert TOKEN not in out + err


def test_serve_without_events_section_is_a_usage_error(tmp_path: Path, emulator: OpenStackEmulator) -> None:
    """`poller serve` with nothing configured under events exits 2 with one line naming events."""
    config = write_config(tmp_path, emulator, free_port(), events=False)
    result = subprocess.run([*exe(), "--config", str(config), "serve"], env=environ(), capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and "events" in result.stderr and "Traceback" not in result.stderr
