"""A collector named by class path in poller.yaml runs through the installed CLI exactly like a built-in one.

The plugin is tests/plugin_example's ``InventoryCollector`` (on PYTHONPATH, not installed),
polling a small JSON API served on 127.0.0.1 by a thread of this test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.collectors.nagios.conftest import summary
from tests.e2e.test_cli import ROOT, lines, poller

PLUGIN_PATH = str(ROOT / "tests" / "plugin_example")
CLASS_PATH = "poller_plugin_example:InventoryCollector"
TOKEN = "inventory-token-canary"


class InventoryApi:
    """A tiny inventory API: GET /things, GET /things/<id>, bearer token."""

    def __init__(self) -> None:
        self.things: dict[str, dict[str, Any]] = {
            "1": {"id": 1, "name": "alpha", "status": "active", "size": 3, "tags": ["a", "b"], "last_seen": 100},
            "2": {"id": 2, "name": "beta", "status": "active", "size": 5, "tags": [], "last_seen": 100},
        }
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": "unauthorized"})
                if self.path == "/things":
                    return self._send(200, list(api.things.values()))
                thing = api.things.get(self.path.rsplit("/", 1)[-1])
                return self._send(200, thing) if thing else self._send(404, {"error": "not found"})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[InventoryApi]:
    served = InventoryApi()
    yield served
    served.close()


def workdir(tmp_path: Path, api: InventoryApi, collector: str = CLASS_PATH) -> Path:
    """A poller.yaml whose source ``inv`` names the plugin by class path (token from the environment)."""
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "sources:\n"
        f"  - {{name: inv, collector: '{collector}', options: {{url: '{api.url}', token: '${{INV_TOKEN}}'}}}}\n"
    )
    return tmp_path


def run(*args: str, cwd: Path, token: str = TOKEN) -> Any:
    return poller(*args, cwd=cwd, env={"PYTHONPATH": f"{PLUGIN_PATH}:{ROOT}", "INV_TOKEN": token})


def test_class_path_plugin_snapshots_like_a_builtin(tmp_path: Path, api: InventoryApi) -> None:
    """First load creates, idle is silent (volatile last_seen ignored), a change is one update, a removal one delete."""
    cwd = workdir(tmp_path, api)
    first = run("snapshot", cwd=cwd)
    assert first.returncode == 0, first.stderr
    assert sorted(n["key"] for n in lines(first.stdout)) == ["1", "2"]
    assert "inv: ok, 2 listed, 2 created" in first.stderr
    api.things["1"]["last_seen"] = 200
    assert lines(run("snapshot", cwd=cwd).stdout) == []
    api.things["1"]["size"] = 4
    del api.things["2"]
    changed = {n["key"]: n for n in lines(run("snapshot", cwd=cwd).stdout)}
    assert changed["1"]["action"] == "update" and changed["2"]["action"] == "delete"
    assert changed["1"]["changes"] == [{"path": "/size", "old": 3, "new": 4}]


def test_class_path_plugin_listed_by_collectors_command(tmp_path: Path, api: InventoryApi) -> None:
    """`poller collectors` lists the configured class-path plugin with its entity types."""
    result = run("collectors", cwd=workdir(tmp_path, api))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(CLASS_PATH))
    assert "inventory.item" in row


def test_class_path_plugin_passes_check_config(tmp_path: Path, api: InventoryApi) -> None:
    """`poller check-config` loads and constructs the class-path plugin like a built-in one."""
    result = run("check-config", cwd=workdir(tmp_path, api))
    assert result.returncode == 0 and "configuration is valid" in result.stdout, result.stderr


def test_F04_class_path_plugin_wrong_token_fails_one_line_deletes_nothing(tmp_path: Path, api: InventoryApi) -> None:
    """F04: the plugin's AuthenticationFailed fails the run with one line, no traceback, no deletion, no secret."""
    cwd = workdir(tmp_path, api)
    assert run("snapshot", cwd=cwd).returncode == 0
    result = run("snapshot", cwd=cwd, token="wrong-token-canary")
    assert result.returncode == 1 and lines(result.stdout) == []
    line = summary(result.stderr, "inv")
    assert line.startswith("inv: failed") and "rejected the token (HTTP 401)" in line, result.stderr
    assert "Traceback" not in result.stderr and "canary" not in result.stderr
    assert lines(run("snapshot", cwd=cwd).stdout) == []  # both items still in the baseline


@pytest.mark.parametrize(("collector", "message"), [
    ("no_such_plugin_pkg.mod:Thing", "cannot be imported: no module named 'no_such_plugin_pkg'"),
    ("poller_plugin_example:Missing", "module 'poller_plugin_example' has no attribute 'Missing'"),
    ("poller_plugin_example:item_entity", "is not a subclass of collectors.base.Collector"),
])
def test_bad_class_path_is_one_line(tmp_path: Path, api: InventoryApi, collector: str, message: str) -> None:
    """A class path whose module or class is missing, or that is no Collector, fails with one sentence."""
    result = run("snapshot", cwd=workdir(tmp_path, api, collector))
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr
