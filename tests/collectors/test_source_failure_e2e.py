"""End to end: a source whose credentials are rejected or whose endpoint is refused or
black-holed fails once per run, with one error line, through the installed ``poller``
(B11, F02); every stderr line of a ``--log-format json`` run is JSON."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.openstack.emulator import OpenStackEmulator

ROOT = Path(__file__).resolve().parents[2]


class BlackHole:
    """A socket on 127.0.0.1 that accepts connections and never answers (counts them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def snapshot(tmp_path: Path, source: dict[str, Any]) -> tuple[int, list[dict[str, Any]], float]:
    """Run ``poller --log-format json snapshot`` on one source; (exit code, parsed stderr lines, seconds)."""
    config = tmp_path / "poller.yaml"
    config.write_text(yaml.safe_dump({"baseline": {"url": f"sqlite:///{tmp_path / 'b.db'}"}, "sources": [source]}))
    installed = shutil.which("poller")
    exe = [installed] if installed else [sys.executable, str(ROOT / "cli.py")]
    started = time.monotonic()
    done = subprocess.run([*exe, "--config", str(config), "--log-format", "json", "snapshot"], cwd=tmp_path,
                          env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line must be JSON
    return done.returncode, lines, elapsed


def error_events(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines if line.get("level") == "error"]


def assert_failed_once(code: int, lines: list[dict[str, Any]], failure: str) -> str:
    """Exit 1; the only error lines are the run's one run_finished and the CLI's summary; returns the error."""
    assert code == 1, lines
    assert error_events(lines) == ["run_finished", "source_summary"], lines
    finished = next(line for line in lines if line["event"] == "run_finished")
    assert (finished["status"], finished["failure"]) == ("failed", failure)
    assert not any(line["event"] == "listing_incomplete" for line in lines)
    return str(finished["error"])


class TestOpenStack:
    def test_B11_wrong_password_is_one_login_per_run(self, tmp_path: Path) -> None:
        """B11: a wrong password costs one POST /v3/auth/tokens and one error line per run, run after run."""
        with OpenStackEmulator() as emu:
            emu.seed_demo()
            options = emu.source_options()
            options["auth"]["password"] = "wrong-password"
            for run in (1, 2):
                code, lines, _ = snapshot(tmp_path, {"name": "os1", "collector": "openstack", "options": options})
                error = assert_failed_once(code, lines, "auth")
                assert "os1" in error and "rejected the credentials" in error
                logins = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/v3/auth/tokens")]
                assert len(logins) == run
                assert "wrong-password" not in json.dumps(lines)

    def test_F02_refused_auth_url_fails_once(self, tmp_path: Path) -> None:
        """F02: a refused Keystone endpoint fails the source with one line naming it."""
        auth = {"auth_url": f"http://127.0.0.1:{closed_port()}/identity", "username": "u", "password": "p",
                "project_name": "p"}
        code, lines, _ = snapshot(tmp_path, {"name": "os1", "collector": "openstack",
                                             "options": {"auth": auth, "timeout": 2}})
        error = assert_failed_once(code, lines, "unreachable")
        assert "os1" in error and "could not connect" in error

    def test_F02_black_holed_auth_url_fails_within_its_timeout(self, tmp_path: Path, black_hole: BlackHole) -> None:
        """F02: an endpoint that accepts and never answers fails the source after its timeout, once."""
        auth = {"auth_url": f"http://127.0.0.1:{black_hole.port}/identity", "username": "u", "password": "p",
                "project_name": "p"}
        code, lines, elapsed = snapshot(tmp_path, {"name": "os1", "collector": "openstack",
                                                   "options": {"auth": auth, "timeout": 1}})
        error = assert_failed_once(code, lines, "unreachable")
        assert "timed out" in error
        assert len(black_hole.accepted) <= 2  # one discovery request (keystoneauth may reconnect once)
        print(f"black-holed OpenStack source failed after {elapsed:.1f}s with timeout 1s, "
              f"{len(black_hole.accepted)} connection(s)")


class TestCloudStack:
    def test_B11_wrong_secret_is_one_rejected_request(self, tmp_path: Path) -> None:
        """B11: a wrong secret key costs one rejected request and one error line per run."""
        with CloudStackEmulator() as emu:
            emu.seed_demo()
            options = emu.source_options(secret_key="wrong-secret", retry_backoff=0.01)
            code, lines, _ = snapshot(tmp_path, {"name": "cs1", "collector": "cloudstack", "options": options})
            error = assert_failed_once(code, lines, "auth")
            assert "cs1" in error and "rejected the credentials" in error
            assert len(emu.requests) == 1
            assert "wrong-secret" not in json.dumps(lines)

    def test_F02_refused_endpoint_fails_once(self, tmp_path: Path) -> None:
        """F02: a refused endpoint fails the source with one error line (the connection check's retries are warnings)."""
        options = {"endpoint": f"http://127.0.0.1:{closed_port()}/client/api", "api_key": "k", "secret_key": "s",
                   "retry_backoff": 0.05, "timeout": 2}
        code, lines, _ = snapshot(tmp_path, {"name": "cs1", "collector": "cloudstack", "options": options})
        error = assert_failed_once(code, lines, "unreachable")
        assert "cs1" in error and "cannot connect" in error
        retries = [line for line in lines if line["event"] == "cloudstack_retry"]
        assert retries and all(line["logger"] == "collectors.cloudstack.client" for line in retries)

    def test_F02_black_holed_endpoint_is_not_retried_per_type(self, tmp_path: Path, black_hole: BlackHole) -> None:
        """F02: a black-holed endpoint costs one timed-out request, not timeout x retries x types."""
        options = {"endpoint": f"http://127.0.0.1:{black_hole.port}/client/api", "api_key": "k", "secret_key": "s",
                   "timeout": 1, "retries": 3}
        code, lines, elapsed = snapshot(tmp_path, {"name": "cs1", "collector": "cloudstack", "options": options})
        error = assert_failed_once(code, lines, "unreachable")
        assert "timed out" in error
        assert len(black_hole.accepted) == 1
        print(f"black-holed CloudStack source failed after {elapsed:.1f}s with timeout 1s")


class TestLibvirt:
    def test_B11_bad_uri_is_one_error(self, tmp_path: Path) -> None:
        """A libvirt URI naming no usable driver fails the source with one error line."""
        code, lines, _ = snapshot(tmp_path, {"name": "lv1", "collector": "libvirt",
                                             "options": {"uri": "nosuchdriver:///x", "timeout": 5}})
        error = assert_failed_once(code, lines, "unreachable")
        assert "lv1" in error
