"""The per-source lease as a run holds it: taking it, renewing it, fencing the commit with
its token, and giving it back (later, if the database did not answer at first).

Two runs of one source (two processes, or a snapshot and an event refresh in one process)
never overlap: each run takes the database lease under its own holder id, and only the
run whose fencing token is still current may commit. It never talks to a collector.

API (what the run, the service and a cluster layer may use):

- ``new_holder()``: a holder id for one run (``host:pid:random``).
- ``LeaseKeeper(store, source, ttl, deadline=None)``; ``keeper.acquire()`` takes the lease in
  one atomic statement on the database's clock (free, released, expired, or held by a dead
  process of this host) and returns False while another holder has it. After it,
  ``keeper.token`` is the fencing token (an integer raised by one each time the source's
  lease changes hands) and a thread renews the lease every ``ttl / 3`` seconds. Renewal is a
  conditional UPDATE (holder, token, not expired): a lease that expired or changed hands is
  never re-created; the keeper then sets ``keeper.lost``.
- ``keeper.still_ours(tx)``: the fence, called inside the commit's transaction. It locks the
  lease row until that transaction ends (``Transaction.assert_lease(source, holder, token,
  ttl)``) and is True only if this run still holds the unexpired lease with its token; a
  run that gets False commits nothing and ends as ``lease_lost``.
- ``keeper.release()``: stop renewing and give the lease back. If the database does not
  answer, the release is retried in the background (and before this process takes any
  lease again) until it does; ``pending_releases()`` lists those still owed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import structlog

from baseline.errors import BaselineError
from baseline.store import Store, Transaction

log = structlog.get_logger("poller.run")

PROCESS = f"{socket.gethostname()}:{os.getpid()}"

# Releases that failed (database down): (id(store), source, holder) -> (store, source, holder, token).
_pending: dict[tuple[int, str, str], tuple[Store, str, str, int]] = {}
_pending_lock = threading.Lock()
_retrier: threading.Thread | None = None
RELEASE_RETRY = 2.0  # seconds between background attempts to give back a lease


def new_holder() -> str:
    """A lease holder id for one run: two runs of one source in the same process (a scheduled
    snapshot and an event refresh) exclude each other like two processes do."""
    return f"{PROCESS}:{uuid.uuid4().hex[:12]}"


def pending_releases() -> list[tuple[str, str, int]]:
    """(source, holder, token) of the leases this process still owes the database."""
    with _pending_lock:
        return [(source, holder, token) for (_store, source, holder, token) in _pending.values()]


def retry_releases(store: Store | None = None) -> int:
    """Try once to give back every lease still owed (of ``store`` only, when given); how many
    remain. A release is conditional on holder and token, so a late one never frees a lease
    that has changed hands since."""
    with _pending_lock:
        owed = [(key, entry) for key, entry in _pending.items() if store is None or entry[0] is store]
    for key, (owner, source, holder, token) in owed:
        try:
            owner.release_lease(source, holder, token)
        except BaselineError:
            continue
        with _pending_lock:
            _pending.pop(key, None)
        log.info("lease_released_late", source=source, holder=holder, token=token)
    with _pending_lock:
        return len(_pending)


def _retry_loop() -> None:
    global _retrier
    while True:
        time.sleep(RELEASE_RETRY)
        left = retry_releases()
        with _pending_lock:
            if left == 0 and not _pending:
                _retrier = None
                return


def _owe_release(store: Store, source: str, holder: str, token: int) -> None:
    global _retrier
    with _pending_lock:
        _pending[(id(store), source, holder)] = (store, source, holder, token)
        if _retrier is None:
            _retrier = threading.Thread(target=_retry_loop, name="lease-release", daemon=True)
            _retrier.start()


class LeaseKeeper:
    """One run's hold on one source's lease; see the module docstring."""

    def __init__(
        self, store: Store, source: str, ttl: float, deadline: float | None = None, holder: str | None = None
    ) -> None:
        self.store, self.source, self.ttl = store, source, float(ttl)
        self.holder = holder or new_holder()
        self.deadline = deadline
        self.token: int | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{source}", daemon=True)

    def acquire(self) -> bool:
        """Take the lease (settling any release this process still owes first); True if
        taken, then renewed in the background until ``release``."""
        if _pending:
            retry_releases(self.store)
        token = self.store.acquire_lease(self.source, self.holder, self.ttl)
        if token is None:
            return False
        self.token = token
        self._thread.start()
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if self.deadline is not None and time.monotonic() > self.deadline:
                # A run stuck past its timeout (a hung API call) must not keep the source
                # busy for other processes forever: let the lease expire.
                return
            try:
                renewed = self.store.renew_lease(self.source, self.holder, self.token or 0, self.ttl)
            except BaselineError as exc:
                log.warning("lease_renewal_failed", error=str(exc))
                continue
            if not renewed:
                self.lost = True
                log.warning("lease_lost", holder=self.holder, token=self.token)
                return

    def still_ours(self, tx: Transaction) -> bool:
        """The commit's fence (inside its transaction): True while this run holds the
        unexpired lease with its token; the lease row stays locked until the commit ends."""
        if self.lost or self.token is None:
            return False
        return tx.assert_lease(self.source, self.holder, self.token, self.ttl)

    def release(self) -> bool:
        """Stop renewing and give the lease back; False if the database did not answer (the
        release is then retried in the background until it does)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.token is None:
            return True
        try:
            self.store.release_lease(self.source, self.holder, self.token)
        except BaselineError as exc:
            log.warning("lease_release_failed", error=str(exc), retry_s=RELEASE_RETRY)
            _owe_release(self.store, self.source, self.holder, self.token)
            return False
        return True
