"""Push for Nagios: a real Nagios's event handler runs etc/nagios-notify-poller.sh, which POSTs to a running
`poller serve`; the intake re-reads that host or service from the CGIs and emits the update, with no snapshot.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.nagios.lab import NagiosLab
from tests.collectors.nagios.conftest import (
    HOSTS,
    ROOT,
    SERVICES,
    all_checked,
    host_state,
    require_nagios,
    service_state,
    snapshot,
    wait_until,
    write_config,
)
from tests.conftest import IN_CI

SCRIPT = ROOT / "etc" / "nagios-notify-poller.sh"
TOKEN = "nagios-push-token-canary"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sink_notes(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def etc_objects(conf: Path) -> str:
    """etc/nagios-poller.cfg as shipped, with the script and its configuration at this test's paths."""
    text = (ROOT / "etc" / "nagios-poller.cfg").read_text()
    assert "/usr/local/lib/nagios/nagios-notify-poller.sh" in text and "/etc/nagios4/poller-notify.conf" in text
    return (text.replace("/usr/local/lib/nagios/nagios-notify-poller.sh", str(SCRIPT))
            .replace("/etc/nagios4/poller-notify.conf", str(conf)))


@pytest.mark.slow
def test_F30_nagios_event_handler_and_notification_trigger_an_immediate_refresh(tmp_path: Path) -> None:
    """F30: with etc/nagios-poller.cfg, an event handler then a notification each reach the sink as one update.

    Nagios runs the shipped definitions: first as global event handlers (a service goes
    CRITICAL), then, with event handlers disabled and notifications enabled by external
    command, as the cloud-poller contact's notification commands (a host goes DOWN). Only
    `poller serve` runs after the first load (no scheduled snapshot), so the updates can
    only come from the pushed events and the refreshes they trigger.
    """
    require_nagios()
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("curl is not installed in CI")
        pytest.skip("curl is not installed")
    port = free_port()
    conf = tmp_path / "poller-notify.conf"
    calls = tmp_path / "handler.log"
    # The lab's status_update_interval is 1 s: posting 2 s after the state change lets the CGIs see it.
    conf.write_text(f"POLLER_URL=http://127.0.0.1:{port}\nPOLLER_SOURCE=mon\nPOLLER_TOKEN={TOKEN}\n"
                    f"POLLER_DELAY=2\nPOLLER_LOG={calls}\n")
    conf.chmod(0o600)
    lab = NagiosLab(HOSTS, SERVICES, extra_objects=etc_objects(conf), contacts=("lab", "cloud-poller"),
                    main_options=("global_host_event_handler=notify-poller-host",
                                  "global_service_event_handler=notify-poller-service"))
    lab.write()
    verified = lab.verify()
    assert verified.returncode == 0, verified.stdout[-2000:]
    sink = tmp_path / "out.jsonl"
    with lab:
        wait_until(lambda: all_checked(lab), "every host and service checked once")
        config = write_config(tmp_path / "poller.yaml", lab.url, extra=(
            f"notify: {{sinks: [{{name: file, type: jsonl, path: '{sink}'}}]}}\n"
            f"events: {{http: {{port: {port}}}, debounce: 1s, sources: {{mon: {{token: '${{EVT_TOKEN}}'}}}}}}\n"))
        code, _, stderr = snapshot(config, lab.password, EVT_TOKEN=TOKEN)
        assert code == 3, stderr
        sink.unlink()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NAGIOS_PASSWORD": lab.password, "EVT_TOKEN": TOKEN}
        serve = subprocess.Popen([sys.executable, "cli.py", "--config", str(config), "serve"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = err = ""
        try:
            wait_until(lambda: _listening(port), "poller serve to listen")
            service_state(lab, "db1", "pgsql", "CRITICAL")  # -> global service event handler
            wait_until(lambda: len(sink_notes(sink)) >= 1, "the service update pushed by the event handler")
            lab.command("DISABLE_EVENT_HANDLERS")
            lab.command("ENABLE_NOTIFICATIONS")
            wait_until(lambda: "enable_notifications=1" in lab.status(), "notifications enabled")
            host_state(lab, "web1", "DOWN")  # -> the cloud-poller contact's host notification
            wait_until(lambda: len(sink_notes(sink)) >= 2, "the host update pushed by the notification")
            time.sleep(2)  # a debounce window more: nothing else may arrive
        finally:
            serve.send_signal(signal.SIGTERM)
            out, err = serve.communicate(timeout=30)
        nagios_log = (lab.dir / "var" / "nagios.log").read_text()
    notes = sink_notes(sink)
    assert [(n["action"], n["key"], n["state"]) for n in notes] == [
        ("update", "db1/pgsql", "CRITICAL"), ("update", "web1", "DOWN")], err
    assert "SERVICE EVENT HANDLER: db1;pgsql;CRITICAL;HARD;1;notify-poller-service" in nagios_log
    assert "HOST NOTIFICATION: cloud-poller;web1;DOWN;notify-poller-host" in nagios_log
    assert serve.returncode == 0, err
    assert TOKEN not in out + err
    assert not calls.exists() or calls.read_text() == ""  # the script reported no failure


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
