"""Load cases L01, L02, L05 and L06 through the installed CLI, at a scale CI can afford.

POLLER_LOAD_ENTITIES sets the scale (default 100,000; run it with 1,000,000 by hand, as
docs/reliability.md records). Each test prints its figures (seconds, peak RSS of the
process tree) and asserts exact counts and flat behaviour, never a duration.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.inventory import write
from bench.memory import PeakMemory
from tests.e2e.test_delivery_crash import poller_cmd

N = int(os.environ.get("POLLER_LOAD_ENTITIES", "100000"))
pytestmark = pytest.mark.slow


def poller(config: Path, *args: str, stdout: Any = subprocess.PIPE) -> tuple[subprocess.CompletedProcess[bytes], dict[str, float]]:
    """Run the CLI once; returns the process and its figures (seconds, peak RSS in MB)."""
    started = time.monotonic()
    proc = subprocess.Popen([*poller_cmd(), "--config", str(config), *args], stdout=stdout, stderr=subprocess.PIPE)
    peak = PeakMemory(proc.pid)
    out, err = proc.communicate(timeout=3600)
    peak.stop()
    figures = {"seconds": round(time.monotonic() - started, 2), "peak_rss_mb": round(peak.pss / 2**20, 1)}
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), figures


def rows_digest(db: Path) -> str:
    """A digest of every baseline row's stored columns (changes if any row was rewritten)."""
    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for row in conn.execute("SELECT * FROM poller_entities ORDER BY source, entity_type, key"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def outbox_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM poller_outbox").fetchone()[0])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A first load of N servers into a SQLite baseline (initial load announced to a jsonl sink
    whose directory is a file for now, so the whole load waits in the outbox: L06's backlog)."""
    work = tmp_path_factory.mktemp("load")
    inventory = work / "servers.jsonl"
    write(inventory, N)
    sink_dir = work / "sink"
    sink_dir.write_text("a file where the sink's directory should be: the sink cannot write")
    config = work / "poller.yaml"
    config.write_text(
        f"baseline: {{url: 'sqlite:///{work / 'b.db'}'}}\n"
        f"notify: {{sinks: [{{name: file, type: jsonl, path: '{sink_dir / 'changes.jsonl'}'}}]}}\n"
        f"sources: [{{name: big, collector: static, options: {{path: '{inventory}'}}}}]\n"
    )
    first, figures = poller(config, "snapshot", stdout=subprocess.DEVNULL)
    print(f"\nL01 first load of {N}: {figures}")
    yield {"work": work, "inventory": inventory, "config": config, "db": work / "b.db", "sink": sink_dir,
           "first": first, "first_figures": figures}


def test_L01_idle_second_run_writes_nothing(loaded: dict[str, Any]) -> None:
    """L01: after the first load, a second run of the same N entities emits nothing and rewrites
    no baseline row (only its run record)."""
    db = loaded["db"]
    before_rows, before_outbox = rows_digest(db), outbox_count(db)
    second, figures = poller(loaded["config"], "snapshot")
    print(f"\nL01 idle second run of {N}: {figures} (first: {loaded['first_figures']})")
    assert second.returncode in (0, 1), second.stderr.decode()[-2000:]  # 1: the sink is still down
    assert second.stdout.strip() == b""
    assert rows_digest(db) == before_rows and outbox_count(db) == before_outbox


def test_L06_backlog_drains_in_order_while_polls_commit(loaded: dict[str, Any]) -> None:
    """L06: the first load's N notifications wait while the sink is down; once it is back they are
    delivered, every one, in commit order, by a process whose memory stays bounded."""
    db, sink = loaded["db"], loaded["sink"]
    assert outbox_count(db) >= N
    sink.unlink()
    sink.mkdir()
    drain, figures = poller(loaded["config"], "snapshot", stdout=subprocess.DEVNULL)
    assert drain.returncode == 0, drain.stderr.decode()[-2000:]
    lines = (sink / "changes.jsonl").read_bytes().splitlines()
    keys = [orjson.loads(line)["key"] for line in lines]
    print(f"\nL06 drained {len(lines)} notifications: {figures}, "
          f"{round(len(lines) / max(figures['seconds'], 0.001))} per second")
    assert len(keys) == N and len(set(keys)) == N
    with sqlite3.connect(db) as conn:
        order = [k for (k,) in conn.execute("SELECT key FROM poller_outbox ORDER BY seq")]
    assert keys == order[: len(keys)]
    assert figures["peak_rss_mb"] < 400, "draining holds batches, not the backlog"


def test_L02_one_percent_churn_gives_exact_counts(loaded: dict[str, Any]) -> None:
    """L02: 0.5% updated, 0.3% created and 0.2% deleted give exactly those notifications, and the
    diff report of that run holds the same counts."""
    counts = write(loaded["inventory"], N, change=0.005, created=0.003, deleted=0.002, seed=11)
    run, figures = poller(loaded["config"], "snapshot", "--format", "jsonl")
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    notes = [orjson.loads(line) for line in run.stdout.splitlines() if line.strip()]
    actions = Counter(n["action"] for n in notes)
    print(f"\nL02 churn run over {N}: {figures}, {dict(actions)}")
    assert actions == Counter(update=counts["changed"], create=counts["created"], delete=counts["deleted"])
    run_id = notes[0]["run_id"]
    report, _ = poller(loaded["config"], "diff", "--run", str(run_id), "--format", "json")
    assert report.returncode == 0, report.stderr.decode()[-2000:]
    reported = orjson.loads(report.stdout)
    assert Counter(r["action"] for r in reported) == actions


def reported_count(output: bytes) -> int:
    """How many notifications a ``--format json`` report holds: parsed whole up to 256 MB; past that
    (a million notifications are ~2.6 GB, more than orjson parses at once) its top-level objects are
    counted, one per line holding only ``{`` (the report writes one indented object at a time)."""
    if len(output) < 256 * 2**20:
        return len(orjson.loads(output))
    assert output.startswith(b"[") and output.rstrip().endswith(b"]")
    return sum(1 for line in output.splitlines() if line == b"{")


def test_L05_reports_over_every_change(loaded: dict[str, Any]) -> None:
    """L05: the diff report over the whole history (N first-load creates and the churn) holds exactly
    the outbox's notifications as JSON, and renders as one HTML file, with the peak RSS printed."""
    db, work = loaded["db"], loaded["work"]
    total = outbox_count(db)
    as_json, json_figures = poller(loaded["config"], "diff", "--since", "1d", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr.decode()[-2000:]
    assert reported_count(as_json.stdout) == total
    html = work / "report.html"
    as_html, html_figures = poller(loaded["config"], "diff", "--since", "1d", "--format", "html", "-o", str(html))
    assert as_html.returncode == 0, as_html.stderr.decode()[-2000:]
    print(f"\nL05 report over {total} notifications: json {json_figures}, html {html_figures}, "
          f"{html.stat().st_size // 1024} KiB of HTML")
    assert html.read_bytes().rstrip().endswith(b"</html>")
