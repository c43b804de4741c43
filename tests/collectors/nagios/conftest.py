"""Fixtures: a real Nagios Core and Apache on 127.0.0.1 (collectors.nagios.lab), and helpers to drive them.

Outside CI the Nagios tests skip when nagios4/apache2 are not installed; under CI=true
they fail instead (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from collectors.nagios.lab import LabHost, LabService, NagiosLab
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[3]
HOSTS = (LabHost("gw"), LabHost("web1", parents=("gw",)), LabHost("db1", address="127.0.0.2", parents=("gw",)))
SERVICES = (LabService("web1", "http"), LabService("db1", "pgsql"), LabService("db1", "disk /var"))
HOST_STATUS = {"UP": 2, "DOWN": 4, "UNREACHABLE": 8}
SERVICE_STATUS = {"OK": 2, "WARNING": 4, "UNKNOWN": 8, "CRITICAL": 16}


def require_nagios() -> None:
    """Skip (fail under CI=true) when Nagios Core or Apache is not installed."""
    reason = NagiosLab.missing()
    if reason:
        if IN_CI:
            pytest.fail(f"Nagios lab unavailable in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def lab() -> Iterator[NagiosLab]:
    """A started lab: gw <- web1, gw <- db1 (hosts with parents) and three services, all checked every 2 s."""
    require_nagios()
    with NagiosLab(HOSTS, SERVICES) as started:
        wait_until(lambda: all_checked(started), "every host and service checked once")
        yield started


def cgi(lab: NagiosLab, query: str, **params: str) -> dict[str, Any]:
    """The ``data`` of one statusjson.cgi query, read with the lab's credentials."""
    answer = requests.get(f"{lab.url}/statusjson.cgi", params={"query": query, **params},
                          auth=(lab.username, lab.password), timeout=10)
    answer.raise_for_status()
    return dict(answer.json()["data"])


def all_checked(lab: NagiosLab) -> bool:
    """Whether Nagios has checked every host and service at least once."""
    hosts = cgi(lab, "hostlist", details="true")["hostlist"]
    services = cgi(lab, "servicelist", details="true")["servicelist"]
    return all(h["has_been_checked"] for h in hosts.values()) and all(
        s["has_been_checked"] for by in services.values() for s in by.values())


def wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def service_state(lab: NagiosLab, host: str, description: str, state: str) -> None:
    """Make the next check of a service return ``state``, force it, and wait until Nagios shows it."""
    lab.set_service(host, description, {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[state])
    lab.force_service_check(host, description)
    wait_until(lambda: cgi(lab, "service", hostname=host, servicedescription=description)["service"]["status"]
               == SERVICE_STATUS[state], f"{host}/{description} {state}")


def host_state(lab: NagiosLab, host: str, state: str) -> None:
    """Make the next check of a host return ``state`` (UP or DOWN), force it, and wait until Nagios shows it."""
    lab.set_host(host, 0 if state == "UP" else 2)
    lab.force_host_check(host)
    wait_until(lambda: cgi(lab, "host", hostname=host)["host"]["status"] == HOST_STATUS[state], f"{host} {state}")


def write_config(path: Path, url: str, *, extra: str = "", username: str = "poller") -> Path:
    """A poller.yaml with one nagios source ``mon`` (password from $NAGIOS_PASSWORD) and a SQLite baseline."""
    path.write_text(
        f'baseline: {{url: "sqlite:///{path.parent / "baseline.db"}"}}\n'
        "sources:\n"
        "  - name: mon\n"
        "    collector: nagios\n"
        f'    options: {{url: "{url}", username: "{username}", password: "${{NAGIOS_PASSWORD}}", timeout: 10}}\n'
        + extra
    )
    return path


def snapshot(config: Path, password: str, **environ: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``cli.py --config CONFIG snapshot --format jsonl --exit-code``; (exit code, notifications, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NAGIOS_PASSWORD": password, **environ}
    result = subprocess.run(
        [sys.executable, "cli.py", "--config", str(config), "snapshot", "--format", "jsonl", "--exit-code"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr


def summary(stderr: str, source: str = "mon") -> str:
    """The source's one summary line from a command's stderr, as text on a console or a JSON log event when piped."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(f"{source}: "):
            return line
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "source_summary" and event.get("source") == source:
                return str(event.get("text", ""))
    return ""
