"""F14: the disk holding the SQLite baseline fills up during the commit (a real, small tmpfs).

Needs root to mount the tmpfs (CI runs as root); elsewhere the test is skipped, under
CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.e2e.test_delivery_crash import poller_cmd


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for this test only."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs in CI: {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte with one file; returns it."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def write_inventory(path: Path, count: int) -> None:
    path.write_text("".join(json.dumps({"type": "vm", "key": f"vm-{i}", "attributes": {"pad": "x" * 400}}) + "\n"
                            for i in range(count)))


def snapshot(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*poller_cmd(), "--config", str(config), "snapshot", "--format", "jsonl"],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_F14_disk_full_during_commit_rolls_back_and_the_next_run_emits_once(small_disk: Path,
                                                                             tmp_path: Path) -> None:
    """F14: with the baseline's disk full, the run fails with one line naming the database and
    prints no notification; once space is freed the next run emits exactly the pending changes."""
    inventory = tmp_path / "inv.jsonl"
    write_inventory(inventory, 50)
    db = small_disk / "b.db"
    config = tmp_path / "poller.yaml"
    config.write_text(f"baseline: {{url: 'sqlite:///{db}'}}\n"
                      f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n")
    first = snapshot(config)
    assert first.returncode == 0, first.stderr
    write_inventory(inventory, 3000)
    filler = fill(small_disk)
    full = snapshot(config)
    assert full.returncode not in (0, 3) and full.stdout.strip() == "", full.stderr
    assert str(db) in full.stderr and "Traceback" not in full.stderr
    filler.unlink()
    after = snapshot(config)
    assert after.returncode == 0, after.stderr
    notes = [json.loads(line) for line in after.stdout.splitlines() if line.strip()]
    assert sorted(n["key"] for n in notes) == sorted(f"vm-{i}" for i in range(50, 3000))
    assert {n["action"] for n in notes} == {"create"}
    again = snapshot(config)
    assert (again.returncode, again.stdout.strip()) == (0, ""), again.stderr
    assert os.path.exists(db)
