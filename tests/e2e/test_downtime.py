"""F24: the service was down for 3 h with a 10-minute interval; on start, one catch-up run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_delivery_crash import poller_cmd


def runs(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM poller_runs WHERE status != 'running'").fetchone()[0])


def age_runs(db: Path, hours: float) -> None:
    """Move every recorded run ``hours`` into the past (the service was down meanwhile)."""
    with sqlite3.connect(db) as conn:
        for run_id, started, finished in conn.execute("SELECT id, started_at, finished_at FROM poller_runs").fetchall():
            shift = [(datetime.fromisoformat(v) - timedelta(hours=hours)).isoformat(sep=" ") if v else None
                     for v in (started, finished)]
            conn.execute("UPDATE poller_runs SET started_at = ?, finished_at = ? WHERE id = ?", (*shift, run_id))


@pytest.mark.slow
def test_F24_one_catch_up_run_after_long_downtime(tmp_path: Path) -> None:
    """F24: with run_at_start false and the last run 3 h old on a 10-minute interval, the service
    runs the source once at start (not 18 times, not after another 10 minutes) and logs the missed window."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text(json.dumps({"type": "vm", "key": "vm-1", "attributes": {"v": 1}}) + "\n")
    db = tmp_path / "b.db"
    config = tmp_path / "poller.yaml"
    config.write_text(f"baseline: {{url: 'sqlite:///{db}'}}\n"
                      f"sources: [{{name: inv, collector: static, interval: 10m, run_at_start: false, "
                      f"options: {{path: '{inventory}'}}}}]\n")
    first = subprocess.run([*poller_cmd(), "--config", str(config), "snapshot"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    age_runs(db, 3)
    before = runs(db)
    proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "--log-format", "json", "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while runs(db) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)
        after = runs(db)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    missed = [e for e in events if e.get("event") == "missed_window"]
    assert after - before == 1, stderr[-2000:]
    assert len(missed) == 1 and missed[0]["missed_runs"] == 18 and missed[0]["source"] == "inv"
