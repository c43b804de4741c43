"""SQLite's log copied back after the commit, in the background (baseline/checkpoint.py).

Real SQLite files and real processes: the commit no longer copies the log itself, so these
check that something still does (the log does not grow without end), that a command exiting
right after its commit leaves no log behind, and that a checkpoint that cannot run costs
nothing but the log's length.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from baseline.checkpoint import Checkpointer
from baseline.store import open_store

MB = 1024 * 1024


def _fill(store, megabytes: int) -> None:  # type: ignore[no-untyped-def]
    with store.transaction() as tx:
        tx.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
        tx.conn.exec_driver_sql("INSERT INTO filler VALUES (?)", [(os.urandom(MB),) for _ in range(megabytes)])


def test_the_log_is_copied_back_after_commits_and_does_not_grow(tmp_path: Path) -> None:
    """Ten commits of 6 MB each: every one leaves more than the threshold of log, a background
    checkpoint copies it back after each, and the log file stays the size of one commit
    (with SQLite's automatic checkpoint off and nothing else, it would reach 60 MB)."""
    path = tmp_path / "b.db"
    store = open_store(f"sqlite:///{path}")
    try:
        checkpointer = store._checkpointer
        assert isinstance(checkpointer, Checkpointer)
        for _ in range(10):
            _fill(store, 6)
            checkpointer.wait()
        assert checkpointer.runs >= 10
        assert os.path.getsize(f"{path}-wal") < 15 * MB
    finally:
        store.close()
    assert not Path(f"{path}-wal").exists() or os.path.getsize(f"{path}-wal") == 0


def test_a_command_that_exits_after_its_commit_leaves_no_log(tmp_path: Path) -> None:
    """A process that commits 20 MB and exits at once (no close): it waits for its checkpoint,
    its last connection removes the log, and everything it wrote is in the database file."""
    path = tmp_path / "b.db"
    code = (
        "import os, sys\n"
        "from baseline.store import open_store\n"
        f"store = open_store('sqlite:///{path}')\n"
        "with store.transaction() as tx:\n"
        "    tx.conn.exec_driver_sql('CREATE TABLE filler (x BLOB)')\n"
        "    tx.conn.exec_driver_sql('INSERT INTO filler VALUES (?)', [(os.urandom(1 << 20),) for _ in range(20)])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not Path(f"{path}-wal").exists()
    assert os.path.getsize(path) > 20 * MB
    import sqlite3

    assert sqlite3.connect(path).execute("SELECT count(*) FROM filler").fetchone() == (20,)


def test_a_checkpoint_that_cannot_run_only_leaves_the_log(tmp_path: Path) -> None:
    """The database cannot be opened when the thread gets to it (here: its path is a directory):
    a warning, no exception, no thread left behind, the log untouched."""
    target = tmp_path / "b.db"
    target.mkdir()
    log = tmp_path / "b.db-wal"
    log.write_bytes(b"\0" * (5 * MB))
    checkpointer = Checkpointer(str(target), busy_timeout=1)
    checkpointer.committed()
    checkpointer.wait()
    assert checkpointer.runs == 0 and checkpointer._thread is None
    assert log.stat().st_size == 5 * MB
