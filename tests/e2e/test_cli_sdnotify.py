"""``poller run`` under systemd's notify protocol: READY=1 once the scheduler runs, WATCHDOG=1
at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM; a real unix datagram socket stands in for
systemd (the service manager itself cannot run in a test)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.service.sdnotify import Notifier

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound unix datagram socket in a short temp dir (socket paths are limited to 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="sdn-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    yield sock, path
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


def receive_until(sock: socket.socket, wanted: str, seen: list[str]) -> None:
    """Read datagrams into ``seen`` until one holds the line ``wanted`` (socket timeout: fail)."""
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if wanted in message.splitlines():
            return


class TestNotifier:
    """The protocol itself, against a real socket."""

    def test_ready_watchdog_stopping(self, notify_socket: tuple[socket.socket, str]) -> None:
        """Each state is one datagram; a watchdog ping is sent only once half the period has passed."""
        sock, path = notify_socket
        now = [0.0]
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}, clock=lambda: now[0])
        assert notifier.ping_interval == 5.0
        assert notifier.ready("polling 1 sources")
        assert sock.recv(4096) == b"READY=1\nSTATUS=polling 1 sources"
        assert notifier.ping_if_due() is False
        now[0] = 5.0
        assert notifier.ping_if_due() is True and sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.ping_if_due() is False
        assert notifier.stopping() and sock.recv(4096) == b"STOPPING=1"

    def test_nothing_without_notify_socket(self) -> None:
        """Outside systemd every call is a no-op."""
        notifier = Notifier({})
        assert not notifier.enabled and notifier.ready() is False and notifier.ping_if_due() is False

    def test_watchdog_for_another_pid_is_ignored(self) -> None:
        """WATCHDOG_PID naming another process means the watchdog is not ours."""
        notifier = Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
        assert notifier.ping_interval is None

    def test_abstract_socket_address(self) -> None:
        """``@name`` is the abstract namespace."""
        assert Notifier({"NOTIFY_SOCKET": "@poller/notify"}).address == b"\0poller/notify"


@pytest.mark.slow
def test_poller_run_notifies_ready_watchdog_and_stopping(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """A real `poller run`: READY=1 after start, WATCHDOG=1 pings (WATCHDOG_USEC=1s), STOPPING=1 on SIGTERM, exit 0."""
    sock, path = notify_socket
    (tmp_path / "inv.jsonl").write_text('{"type":"vm","key":"a","name":"alpha"}\n')
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"sources: [{{name: inv, collector: static, interval: 1h, options: {{path: '{tmp_path}/inv.jsonl'}}}}]\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("POLLER_CONFIG", "WATCHDOG_PID")}
    env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
    exe = shutil.which("poller")
    argv = [exe] if exe else [sys.executable, str(ROOT / "cli.py")]
    proc = subprocess.Popen([*argv, "--log-format", "json", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        receive_until(sock, "READY=1", seen)
        receive_until(sock, "WATCHDOG=1", seen)
        receive_until(sock, "WATCHDOG=1", seen)
        proc.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", seen)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert any(m.startswith("READY=1\nSTATUS=polling 1 sources") for m in seen), seen
    assert seen.index(next(m for m in seen if m.startswith("READY=1"))) < seen.index("WATCHDOG=1")
