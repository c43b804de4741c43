"""SQLite's write-ahead log copied back into the database in a background thread.

SQLite's automatic checkpoint runs inside the COMMIT that takes the log past its threshold:
after a first load of 100,000 entities it copied the log's ~200 MB back into the database
while the run waited (0.45 s of a 0.8 s commit; seconds at a million), before the run could
hand its notifications on. A writing store turns it off on its connections
(``PRAGMA wal_autocheckpoint=0``) and keeps a Checkpointer instead: after each writing
transaction that left more than ``threshold`` bytes of log, a thread runs a PASSIVE
checkpoint (it never waits for a reader or a writer, and never blocks one) on a connection
of its own, while the run goes on (handing its notifications on, say). ``close`` waits for a
checkpoint under way; the last connection to close checkpoints what is left, as SQLite always does.

A checkpoint that fails (the file went away, the disk is full) only leaves the log longer
until the next one: the log is part of the database, nothing in it is lost.
"""

from __future__ import annotations

import os
import sqlite3
import threading

import structlog

log = structlog.get_logger("baseline.checkpoint")

# What SQLite's own automatic checkpoint waits for: 1,000 pages of 4 KB.
THRESHOLD = 4 * 1024 * 1024


class Checkpointer:
    """Checkpoints one SQLite database file's write-ahead log in a background thread.

    The thread lives while there is log to copy (one checkpoint, and another if a commit asked
    again meanwhile) and is not a daemon: a command that exits right after its commit waits
    for the checkpoint it started, as it waited for SQLite's own inside the commit.
    """

    def __init__(self, path: str, busy_timeout: float, threshold: int = THRESHOLD) -> None:
        self.path, self.busy_timeout, self.threshold = path, busy_timeout, threshold
        self.runs = 0  # checkpoints run (for tests and diagnostics)
        self._wanted = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """A writing transaction committed: checkpoint in the background if the log is long."""
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return  # no log (yet): nothing to copy
        if size <= self.threshold:
            return
        with self._cond:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="poller-checkpoint")
                self._thread.start()

    def wait(self) -> None:
        """Return once no checkpoint is asked for or under way."""
        with self._cond:
            self._cond.wait_for(lambda: self._thread is None)

    close = wait  # nothing else to release: the thread ends with its work

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._wanted:
                    self._thread = None
                    self._cond.notify_all()
                    return
                self._wanted = False
            self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.warning("checkpoint_failed", reason=str(exc), note="the log stays longer until the next checkpoint")
