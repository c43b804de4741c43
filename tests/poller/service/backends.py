"""Coordination backends for cluster tests: an etcd or a redis-server of the test's own.

Each is started from the installed Debian binary on loopback, on a free port, with its
data in the test's temp dir, and is stopped (only that process) afterwards. Outside CI a
missing binary skips the test; under CI=true it fails.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI

BACKENDS = ("etcd", "redis")


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed (CI installs etcd-server and redis-server)")
        pytest.skip(f"{name} is not installed")
    return path


class Backend:
    """One running coordination server of ours: its tooz URL, and stop/start on the same port."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The tooz backend URL."""
        if self.kind == "etcd":
            return f"etcd3+http://127.0.0.1:{self.port}"
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> Backend:
        """Start the server and wait until it answers."""
        if self.kind == "etcd":
            env = dict(os.environ)
            if platform.machine() not in ("x86_64", "AMD64"):
                env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(platform.machine(), platform.machine())
            client, peer = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.peer_port}"
            cmd = [_binary("etcd"), "--name", "t", "--data-dir", str(self.workdir / "etcd"), "--listen-client-urls", client,
                   "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                   "--initial-cluster", f"t={peer}", "--log-level", "error"]
        else:
            env = dict(os.environ)
            cmd = [_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.workdir)]
        log = open(self.workdir / f"{self.kind}.log", "ab")  # noqa: SIM115 (kept open for the process's life)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.kind} did not start: {(self.workdir / f'{self.kind}.log').read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        if self.kind == "etcd":
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/version", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop our server (only the process we started)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def running_backend(kind: str, workdir: Path) -> Iterator[Backend]:
    """A started backend of ``kind`` (etcd or redis), stopped on exit."""
    backend = Backend(kind, workdir)
    try:
        yield backend.start()
    finally:
        backend.stop()
