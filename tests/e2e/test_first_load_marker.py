"""F25 through the installed CLI, on SQLite and PostgreSQL: a silent first load reaches a
``jsonl`` sink as one ``baseline_initialized`` marker, and a lost baseline gives a new epoch
and a new marker; ``initial_load: announce`` still sends flagged creates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _drop_pg_database, _new_pg_database

ROOT = Path(__file__).resolve().parents[2]


def poller_cmd() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def setup(tmp_path: Path, url: str, initial_load: str = "silent", count: int = 30) -> tuple[Path, Path]:
    """A static source of ``count`` vms and 2 racks, a jsonl sink, and the config file."""
    inventory = tmp_path / "inv.jsonl"
    lines = [{"type": "vm", "key": f"vm-{i}", "name": f"vm-{i}"} for i in range(count)]
    lines += [{"type": "rack", "key": f"r{i}"} for i in range(2)]
    inventory.write_text("".join(json.dumps(line) + "\n" for line in lines))
    sink = tmp_path / "out.jsonl"
    config = tmp_path / "poller.yaml"
    config.write_text(
        f"baseline: {{url: '{url}'}}\n"
        f"notify: {{initial_load: {initial_load}, sinks: [{{name: out, type: jsonl, path: '{sink}'}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n"
    )
    return config, sink


def poller(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*poller_cmd(), "--config", str(config), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def delivered(sink: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


def use_url(config: Path, old: str, new: str) -> None:
    config.write_text(config.read_text().replace(old, new))


@pytest.mark.slow
def test_F25_silent_first_load_marker_then_new_epoch_after_baseline_lost(tmp_path: Path, store_url: str) -> None:
    """F25: a silent first load sends one baseline_initialized marker and no creates; a second run sends nothing;
    a lost baseline (new SQLite file, new PostgreSQL database) gives a new epoch and a new marker."""
    config, sink = setup(tmp_path, store_url)
    first = poller(config, "-v", "snapshot")  # -v: info logs, where first_load is
    assert first.returncode == 0, first.stderr
    assert [json.loads(line)["action"] for line in first.stdout.splitlines()] == ["baseline_initialized"]
    notes = delivered(sink)
    assert [n["action"] for n in notes] == ["baseline_initialized"]
    marker = notes[0]
    assert marker["type"] == "poller.baseline.initialized" and marker["source"] == "inv" and marker["initial"] is True
    assert marker["baseline"] == {"new_epoch": True, "types": {"rack": 2, "vm": 30}, "entities": 32}
    assert "first load for epoch " + marker["epoch"] in first.stderr

    again = poller(config, "snapshot")
    assert again.returncode == 0 and delivered(sink) == notes  # nothing new, no second marker

    status = poller(config, "notifications", "status", "--format", "json")
    assert status.returncode == 0 and '"out"' in status.stdout
    replay = poller(config, "notifications", "replay", "--sink", "out", "--since", "1h")
    assert replay.returncode == 0, replay.stderr
    assert [n["id"] for n in delivered(sink)] == [marker["id"], marker["id"]]  # replayed: same id, same bytes

    admin, name = None, None
    if store_url.startswith("sqlite"):
        for leftover in tmp_path.glob("baseline.db*"):
            leftover.unlink()
    else:  # a new PostgreSQL database: the baseline is lost, as with a new schema
        from tests.conftest import pg_admin_url

        admin = pg_admin_url()
        assert admin is not None
        name, new_url = _new_pg_database(admin)
        use_url(config, store_url, new_url)
    try:
        rebuilt = poller(config, "-v", "snapshot")
        assert rebuilt.returncode == 0, rebuilt.stderr
        notes = delivered(sink)
        assert [n["action"] for n in notes] == ["baseline_initialized"] * 3
        assert notes[2]["epoch"] != marker["epoch"] and notes[2]["id"] != marker["id"]
        assert notes[2]["baseline"]["new_epoch"] is True and notes[2]["baseline"]["entities"] == 32
        assert "first load for epoch " + notes[2]["epoch"] in rebuilt.stderr
    finally:
        if admin is not None and name is not None:
            _drop_pg_database(admin, name)


@pytest.mark.slow
def test_F25_announce_mode_sends_flagged_creates_and_no_marker(tmp_path: Path, store_url: str) -> None:
    """F25: initial_load: announce sends one create per entity flagged initial, with the epoch, and no marker."""
    config, sink = setup(tmp_path, store_url, initial_load="announce", count=5)
    result = poller(config, "snapshot")
    assert result.returncode == 0, result.stderr
    notes = delivered(sink)
    assert sorted(n["action"] for n in notes) == ["create"] * 7
    assert all(n["initial"] is True and n["epoch"] == notes[0]["epoch"] for n in notes)


@pytest.mark.slow
def test_F25_diff_report_shows_the_silent_first_load(tmp_path: Path) -> None:
    """F25: `poller diff` after a silent first load reports its entities as a first load, not as nothing."""
    config, _ = setup(tmp_path, f"sqlite:///{tmp_path / 'b.db'}", count=4)
    assert poller(config, "snapshot").returncode == 0
    report = poller(config, "diff", "--since", "1h", "--format", "table")
    assert report.returncode == 0, report.stderr
    assert "6 created" in report.stdout and "first load of inv: 6 entities of 2 types" in report.stdout
    history = poller(config, "diff", "--since", "1h", "--format", "markdown")
    assert history.returncode == 0 and "| inv | vm | 4 |" in history.stdout
