"""The per-source lease as a run holds it: holder ids and the thread that renews it.

Two runs of one source (two processes, or a snapshot and an event refresh in one
process) never overlap: each run takes the database lease under its own holder id.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import timedelta

import structlog

from baseline.errors import BaselineError
from baseline.store import Store, Transaction
from poller.run.outcome import RunSettings

log = structlog.get_logger("poller.run")

PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def new_holder() -> str:
    """A lease holder id for one run: two runs of one source in the same process (a scheduled
    snapshot and an event refresh) exclude each other like two processes do."""
    return f"{PROCESS}:{uuid.uuid4().hex[:12]}"


class LeaseKeeper:
    """Renews the source's lease while a run lasts; remembers if renewal ever failed."""

    def __init__(self, store: Store, source: str, settings: RunSettings, holder: str, deadline: float | None) -> None:
        self.store, self.source, self.settings, self.holder = store, source, settings, holder
        self.deadline = deadline
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{source}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.lease_ttl / 3):
            if self.deadline is not None and time.monotonic() > self.deadline:
                # A run stuck past its timeout (a hung API call) must not keep the source
                # busy for other processes forever: let the lease expire.
                self.lost = True
                return
            now = self.settings.clock()
            try:
                if not self.store.acquire_lease(
                    self.source, self.holder, now + timedelta(seconds=self.settings.lease_ttl), now
                ):
                    self.lost = True
            except BaselineError:
                log.warning("lease_renewal_failed")

    def still_ours(self, tx: Transaction) -> bool:
        """True while this process holds the lease (checked inside the commit's transaction)."""
        return not self.lost and tx.lease_holder(self.source) == self.holder
