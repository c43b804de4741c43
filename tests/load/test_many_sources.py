"""L03: 100 sources on one interval against one API that answers at most 10 requests at once.

A real `poller run` with 100 CloudStack sources (one entity type each, to keep the API
work small) on a 10 s interval with 5 s of jitter, 16 workers, observed for 45 s, against the CloudStack
emulator limited to 10 concurrent requests. Scaled in time, not in sources.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from collectors.cloudstack.emulator import CloudStackEmulator
from tests.e2e.test_delivery_crash import poller_cmd

pytestmark = pytest.mark.slow
SOURCES = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_L03_hundred_sources_share_a_limited_api_without_busy_failures(tmp_path: Path) -> None:
    """L03: every source completes runs; none fails (no SQLITE_BUSY, no overload); the API never
    sees more than its 10 concurrent requests; skipped runs, if any, are counted in the metrics."""
    with CloudStackEmulator(max_concurrent=10) as emulator:
        emulator.seed_demo()
        port = free_port()
        db = tmp_path / "b.db"
        sources = "".join(
            f"  - {{name: cs{i:03d}, collector: cloudstack, interval: 10s, jitter: 5s, "
            f"entity_types: [cloudstack.zone], options: {{endpoint: '{emulator.endpoint}', "
            "api_key: '${CS_API_KEY}', secret_key: '${CS_SECRET_KEY}'}}\n" for i in range(SOURCES))
        config = tmp_path / "poller.yaml"
        config.write_text(f"baseline: {{url: 'sqlite:///{db}'}}\n"
                          f"service: {{workers: 16, metrics_port: {port}}}\nsources:\n{sources}")
        env = {**os.environ, "CS_API_KEY": emulator.api_key, "CS_SECRET_KEY": emulator.secret_key}
        proc = subprocess.Popen([*poller_cmd(), "--config", str(config), "--log-format", "json", "run"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            time.sleep(45)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=120)
        with sqlite3.connect(db) as conn:
            statuses = Counter(status for (status,) in conn.execute("SELECT status FROM poller_runs"))
            per_source = Counter(src for (src,) in conn.execute("SELECT source FROM poller_runs WHERE status = 'ok'"))
        skipped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("poller_runs_skipped_total{"))
        print(f"\nL03 {SOURCES} sources in 45 s: runs {dict(statuses)}, skipped {skipped:.0f}, "
              f"API peak concurrency {emulator.peak_in_flight}, requests {len(emulator.requests)}")
        assert proc.returncode == 0, stderr[-2000:]
        assert len(per_source) == SOURCES, "every source completed at least one run"
        assert statuses.get("failed", 0) == 0 and "database is locked" not in stderr, stderr[-2000:]
        assert emulator.peak_in_flight <= 10
