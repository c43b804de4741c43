"""F21: the wall clock steps while `poller run` schedules (suspend/resume, NTP step).

A real `poller run` process; its wall clock alone is shifted through a test-only
sitecustomize (tests/e2e/clockshift), since the machine's own clock cannot be stepped here.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_delivery_crash import poller_cmd

SHIM = Path(__file__).resolve().parent / "clockshift"


def runs(db: Path) -> int:
    """Finished runs recorded in the baseline so far."""
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM poller_runs WHERE status != 'running'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def wait_runs(db: Path, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runs(db) >= count:
            break
        time.sleep(0.2)
    return runs(db)


@pytest.mark.slow
def test_F21_clock_steps_back_and_forward_while_scheduling(tmp_path: Path) -> None:
    """F21: after a 1 h step back the source keeps its 2 s rhythm (no hour-long stall, no burst);
    after a 2 h step forward it runs one catch-up run, says so, and keeps its rhythm."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text(json.dumps({"type": "vm", "key": "vm-1"}) + "\n")
    db = tmp_path / "b.db"
    clock = tmp_path / "offset"
    clock.write_text("0")
    config = tmp_path / "poller.yaml"
    config.write_text(
        f"baseline: {{url: 'sqlite:///{db}'}}\n"
        f"sources: [{{name: inv, collector: static, interval: 2, options: {{path: '{inventory}'}}}}]\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")])),
           "POLLER_TEST_CLOCK_FILE": str(clock)}
    proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "--log-format", "json", "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert wait_runs(db, 2, 30) >= 2, "the service runs its source"
        clock.write_text("-3600")
        before = runs(db)
        time.sleep(9)
        after_back = runs(db) - before
        clock.write_text("3600")
        before = runs(db)
        time.sleep(9)
        after_forward = runs(db) - before
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    tail = stderr[-3000:]
    assert 2 <= after_back <= 6, f"{after_back} runs in 9 s after the step back (every 2 s expected)\n{tail}"
    assert 2 <= after_forward <= 7, f"{after_forward} runs in 9 s after the step forward\n{tail}"
    events = [json.loads(line).get("event") for line in stderr.splitlines() if line.startswith("{")]
    assert "clock_stepped_back" in events and "clock_stepped_forward" in events
    assert proc.returncode == 0
