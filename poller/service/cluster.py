"""This node's membership of a tooz group: which sources it polls, which durable sinks it delivers.

Owns the tooz coordinator, the heartbeat thread (which also runs the membership
watchers), the consistent hash ring of sources (tooz ``join_partitioned_group``), one
tooz lock per durable sink, and the rule for when an assignment may be trusted. It
never runs a source, delivers a notification or reads the baseline: the scheduler asks
``may_run`` and the dispatcher ``may_deliver``. Never logs the backend URL (it may
carry a password), only its scheme and host.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from poller.config import CoordinationConfig
from poller.errors import ConfigError

log = structlog.get_logger("poller.cluster")

SINK_KEY = "sink:{}"  # the object a sink's preferred deliverer is looked up by on the ring
STOP_TIMEOUT = 5.0  # seconds `poller run` waits to leave the group when it stops
RING_PARTITIONS = 32  # tooz.partitioner.Partitioner.DEFAULT_PARTITION_NUMBER (tooz 9.1.0): every node and `poller cluster` must agree


def default_member_id() -> str:
    """``host:pid``: unique per process, and tells an operator where the member runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backend_label(url: str) -> str:
    """The backend URL without credentials, path or options (safe to log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}"


def driver_options(config: CoordinationConfig) -> dict[str, Any]:
    """tooz driver options derived from the section (they take precedence over the URL's query).

    etcd3gw and redis drivers read ``membership_timeout`` (the member key's lease / the
    beat key's expiry), ``lock_timeout`` (a sink lock's lease) and ``timeout`` (a request's
    socket timeout); the etcd3gw driver parses them with ``int()`` (tooz 9.1.0
    drivers/etcd3gw.py), hence whole seconds.
    """
    # No api_version: etcd3gw 2.7.0 (client.py _discover_api_path) reads /version and uses the
    # gateway's /v3/ path from etcd 3.4 on (Debian's etcd-server is 3.4), /v3beta/ for 3.3.
    ttl = max(2, math.ceil(config.timeout))
    return {"membership_timeout": ttl, "lock_timeout": ttl, "timeout": max(1, math.ceil(config.heartbeat * 2))}


def new_coordinator(config: CoordinationConfig, member_id: str) -> Any:
    """A tooz coordinator for the section (constructed, not started: no I/O); ConfigError when
    the driver cannot be loaded (its Python package is missing)."""
    try:
        from tooz import coordination
    except ImportError:
        raise ConfigError("coordination: the tooz package is not installed (pip install 'cloud-poller[cluster]')") from None
    try:
        return coordination.get_coordinator(config.backend_url, member_id.encode(), **driver_options(config))
    except Exception as exc:  # stevedore/driver import errors: their text may echo the URL
        scheme = urlsplit(config.backend_url).scheme
        raise ConfigError(
            f"coordination.backend_url: the tooz driver for {scheme!r} cannot be loaded ({type(exc).__name__}); "
            "is its client library installed?"
        ) from None


@dataclass(frozen=True)
class Snapshot:
    """What the node knows about the cluster at one moment (for metrics, /healthz and logs)."""

    joined: bool
    members: int
    owned: frozenset[str]
    sinks: frozenset[str]
    problem: str | None  # why this node schedules nothing (grace expired, never joined), for /healthz


class Cluster:
    """One node's membership: start it, ask ``may_run``/``may_deliver``, stop it.

    Trust rule: an assignment holds while the last cycle that heartbeated and saw this
    node in the group started less than ``grace`` seconds ago (monotonic clock, so a
    process frozen with SIGSTOP wakes up trusting nothing); a sink lock holds while its
    last refresh started less than half its TTL ago. Overlaps that remain possible in the
    hand-over are excluded by the database lease and fencing token of every run.
    """

    def __init__(
        self, config: CoordinationConfig, sources: Iterable[str], sinks: Iterable[str],
        on_change: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.member_id = config.member_id or default_member_id()
        self.group = config.group.encode()
        self.backend = backend_label(config.backend_url)
        self.on_change = on_change
        self.clock = clock
        self._coord = new_coordinator(config, self.member_id)
        self._partitioner: Any = None
        self._lock = threading.Lock()
        self._sources: frozenset[str] = frozenset(sources)
        self._sinks: frozenset[str] = frozenset(sinks)
        self._owned: frozenset[str] = frozenset()
        self._members: dict[bytes, Any] = {}
        self._confirmed_at: float | None = None
        self._started_at = clock()
        self._locks: dict[str, Any] = {}  # sink -> held tooz lock
        self._lock_at: dict[str, float] = {}  # sink -> start of the cycle that last refreshed its lock
        self._down_since: float | None = None
        self._expired_logged = False
        self._last: Snapshot | None = None
        self._publishing = threading.Lock()
        self._cycle_started: float | None = None  # set while a cycle waits on the backend
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cluster-heartbeat", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="cluster-watchdog", daemon=True)

    # -------------------------------------------------------------- what the service asks

    def may_run(self, source: str) -> bool:
        """True when this node should poll ``source`` now (it is ours and the assignment is trusted)."""
        return self._trusted(self.clock()) and source in self._owned

    def may_deliver(self, sink: str) -> bool:
        """True when this node is the one deliverer of the durable sink ``sink`` right now."""
        at = self._lock_at.get(sink)
        return sink in self._locks and at is not None and self.clock() - at < self._lock_ttl() / 2

    def snapshot(self) -> Snapshot:
        """The current view (owned sources and sinks only as far as they are trusted)."""
        now = self.clock()
        trusted = self._trusted(now)
        with self._lock:
            owned = self._owned if trusted else frozenset()
            members = len(self._members)
        sinks = frozenset(s for s in list(self._locks) if self.may_deliver(s))
        return Snapshot(self._confirmed_at is not None, members, owned, sinks, None if trusted else self._problem(now))

    def set_sources(self, sources: Iterable[str], sinks: Iterable[str]) -> None:
        """The enabled sources and durable sinks changed (a reload); ownership is recomputed next cycle."""
        self._sources, self._sinks = frozenset(sources), frozenset(sinks)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the heartbeat thread; it joins (and keeps retrying to join) by itself."""
        logging.getLogger("tooz").setLevel(logging.ERROR if logging.getLogger().getEffectiveLevel() > logging.DEBUG else logging.DEBUG)
        log.info("cluster_joining", backend=self.backend, group=self.config.group, member=self.member_id,
                 heartbeat_s=self.config.heartbeat, membership_timeout_s=self.config.timeout)
        self._thread.start()
        self._watchdog.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Release the sink locks, leave the group and stop the coordinator: best effort, at most
        ``timeout`` seconds (with the backend down the others drop us after the membership timeout)."""
        self._halt.set()
        self._thread.join(timeout=max(5.0, 3 * self.config.heartbeat))
        self._watchdog.join(timeout=5.0)
        leaving = threading.Thread(target=self._leave, name="cluster-leave", daemon=True)
        leaving.start()
        leaving.join(timeout)
        if leaving.is_alive():
            log.warning("cluster_leave_unfinished", backend=self.backend, waited_s=timeout,
                        hint="the others drop this member after the membership timeout")
        else:
            log.info("cluster_left", member=self.member_id)

    def _leave(self) -> None:
        for sink in list(self._locks):
            self._drop_lock(sink)
        try:
            if self._coord.is_started:
                self._coord.stop()  # leaves every joined group (the Partitioner's watchers are already gone)
        except Exception as exc:
            log.warning("cluster_leave_failed", backend=self.backend, error=type(exc).__name__)

    # -------------------------------------------------------------- the heartbeat thread

    def _loop(self) -> None:
        while not self._halt.is_set():
            started = self.clock()
            self._cycle_started = started
            try:
                self._cycle(started)
            except Exception as exc:  # tooz errors and whatever a driver lets through; the loop must go on
                self._failed(started, type(exc).__name__)
            else:
                self._recovered(started)
            finally:
                self._cycle_started = None
            with self._publishing:
                self._publish()
            self._halt.wait(max(0.05, self.config.heartbeat - (self.clock() - started)))

    def _watch(self) -> None:
        """Notice a backend that stopped answering while a cycle is stuck in a driver's own retries
        (tooz's redis driver retries a refused connection 15 times, each after redis-py's backoff)."""
        while not self._halt.wait(self.config.heartbeat):
            started = self._cycle_started
            if started is not None and self.clock() - started > self.config.timeout / 2:
                self._failed(started, "no answer")
                with self._publishing:
                    self._publish()

    def _cycle(self, started: float) -> None:
        coord = self._coord
        if not coord.is_started:
            coord.start()
        self._lapse_locks(started)  # before the heartbeat: an expired etcd lease "refreshes" silently
        coord.heartbeat()
        if self._partitioner is None:
            self._partitioner = self._join()
        coord.run_watchers()
        members = self._read_members()
        if self.member_id.encode() not in members:
            self._rejoin()
            members = self._read_members()
        if set(members) != set(self._members) or self._partitioner.ring is None:
            self._partitioner.ring = ring_of(members)
        with self._lock:
            self._members = members
            self._confirmed_at = started
            for sink in self._locks:
                self._lock_at[sink] = started  # refreshed by the heartbeat above
            self._owned = frozenset(s for s in self._sources if self._partitioner.belongs_to_self(s))
        self._claim_sinks()
        self._advertise()

    def _join(self) -> Any:
        """Join with tooz's ``join_partitioned_group``, then keep its ring in step with the member list.

        tooz 9.1.0's Partitioner builds its ring from one ``get_members`` call and moves it with
        join/leave watchers fed by a second, cached one (partitioner.py, coordination.py
        CoordinationDriverCachedRunWatchers): a member that joins between the two is later
        removed from a ring it was never added to, ``hashring.UnknownNode`` escapes from
        ``run_watchers``, and as that cache is updated only after the hooks ran, every later
        ``run_watchers`` raises again. So the Partitioner's own watchers are replaced by ours
        (which only log) and its ring is rebuilt from the members read in each cycle.
        """
        from tooz import coordination

        try:
            partitioner = self._coord.join_partitioned_group(self.group, partitions=RING_PARTITIONS)
        except coordination.MemberAlreadyExist:
            # A member key of ours from an earlier session (same member_id) is still alive: replace it.
            self._coord.leave_group(self.group).get()
            partitioner = self._coord.join_partitioned_group(self.group, partitions=RING_PARTITIONS)
        partitioner.stop()  # unwatches its hooks; the group stays joined
        partitioner.ring = None  # rebuilt by the cycle from the member list
        self._coord.watch_join_group(self.group, self._on_join)
        self._coord.watch_leave_group(self.group, self._on_leave)
        return partitioner

    def _on_join(self, event: Any) -> None:
        log.info("cluster_member_joined", member=event.member_id.decode(errors="replace"), seen_by=self.member_id)

    def _on_leave(self, event: Any) -> None:
        log.info("cluster_member_left", member=event.member_id.decode(errors="replace"), seen_by=self.member_id)

    def _rejoin(self) -> None:
        """We were dropped from the group (frozen, or the backend lost its data): join again, and
        treat every sink lock as lost with the session that held it."""
        from tooz import coordination

        log.warning("cluster_rejoining", member=self.member_id, reason="not a member any more")
        for sink in list(self._locks):
            self._drop_lock(sink)
        try:
            self._coord.join_group(self.group, capabilities=self._capabilities()).get()
        except coordination.GroupNotCreated:
            self._coord.join_group_create(self.group, capabilities=self._capabilities())
        except coordination.MemberAlreadyExist:
            pass

    def _read_members(self) -> dict[bytes, Any]:
        from tooz import coordination

        try:
            return dict(self._coord.get_members_with_capabilities(self.group).get())
        except coordination.GroupNotCreated:
            return {}

    def _claim_sinks(self) -> None:
        """Try each durable sink whose ring owner we are; a lock we hold is kept until it is lost."""
        for sink in sorted(self._sinks):
            if sink in self._locks or not self._partitioner.belongs_to_self(SINK_KEY.format(sink)):
                continue
            at = self.clock()
            lock = self._coord.get_lock(f"{self.config.group}.{SINK_KEY.format(sink)}".encode())
            if lock.acquire(blocking=False):
                self._locks[sink], self._lock_at[sink] = lock, at
                log.info("sink_claimed", sink=sink, member=self.member_id)
        for sink in [s for s in self._locks if s not in self._sinks]:
            self._drop_lock(sink)

    def _lapse_locks(self, now: float) -> None:
        for sink in list(self._locks):
            at = self._lock_at.get(sink)
            if at is None or now - at >= self._lock_ttl() / 2:
                log.warning("sink_lock_lapsed", sink=sink, member=self.member_id, unrefreshed_s=round(now - (at or now), 1))
                self._drop_lock(sink)

    def _drop_lock(self, sink: str) -> None:
        lock = self._locks.pop(sink, None)
        self._lock_at.pop(sink, None)
        if lock is None:
            return
        try:
            lock.release()  # compare-and-delete in both drivers: never frees another holder's lock
        except Exception as exc:
            log.info("sink_lock_release_failed", sink=sink, error=type(exc).__name__)

    def _advertise(self) -> None:
        """Publish host, pid, last heartbeat and the sinks we deliver, for `poller cluster`."""
        self._coord.update_capabilities(self.group, self._capabilities()).get()

    def _capabilities(self) -> dict[str, Any]:
        return {
            "weight": 1,  # read by tooz's Partitioner: every node weighs the same
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": datetime.now(UTC).isoformat(timespec="seconds"),
            "sinks": sorted(self._locks),
            "sources": len(self._owned),
        }

    # -------------------------------------------------------------- outages

    def _failed(self, started: float, error: str) -> None:
        if self._down_since is None:
            self._down_since = started
            log.warning("coordination_unavailable", backend=self.backend, error=error,
                        grace_s=self.config.grace_s, hint="keeps its last assignment for the grace period, retrying")
        if not self._trusted(self.clock()) and not self._expired_logged:
            self._expired_logged = True
            log.error("coordination_grace_expired", backend=self.backend, grace_s=self.config.grace_s,
                      hint="schedules nothing until the backend answers again; rejoins by itself")

    def _recovered(self, started: float) -> None:
        if self._down_since is not None:
            log.info("coordination_recovered", backend=self.backend, down_s=round(started - self._down_since, 1))
        elif self._last is None or not self._last.joined:
            log.info("cluster_joined", backend=self.backend, group=self.config.group, member=self.member_id,
                     members=len(self._members))
        self._down_since, self._expired_logged = None, False

    def _publish(self) -> None:
        """Tell the service when what this node should do changed."""
        snap = self.snapshot()
        previous, self._last = self._last, snap
        if previous is None or (snap.owned, snap.sinks, snap.members, snap.problem) != (
            previous.owned, previous.sinks, previous.members, previous.problem
        ):
            if previous is None or snap.owned != previous.owned or snap.members != previous.members:
                log.info("cluster_assignment", member=self.member_id, members=snap.members, owned=sorted(snap.owned),
                         sinks=sorted(snap.sinks))
            try:
                self.on_change()
            except Exception:  # the service's callback must not stop the heartbeat
                log.error("cluster_callback_failed", exc_info=True)

    # -------------------------------------------------------------- rules

    def _trusted(self, now: float) -> bool:
        at = self._confirmed_at
        return at is not None and now - at < self.config.grace_s

    def _lock_ttl(self) -> float:
        return float(driver_options(self.config)["lock_timeout"])

    def _problem(self, now: float) -> str | None:
        if self._confirmed_at is None:
            waited = now - self._started_at
            if waited < self.config.grace_s:
                return None  # still joining
            return f"not joined to the coordination group after {waited:.0f}s (backend {self.backend})"
        return f"coordination backend {self.backend} unanswered for {now - self._confirmed_at:.0f}s (grace {self.config.grace_s:g}s)"


def ring_of(members: Mapping[bytes, Any]) -> Any:
    """tooz's consistent hash ring over ``members`` (each weighted by its ``weight`` capability,
    as tooz's Partitioner does): every node and `poller cluster` compute the same owners."""
    from tooz import hashring

    ring = hashring.HashRing([], partitions=RING_PARTITIONS)
    for member, caps in members.items():
        ring.add_node(member, caps.get("weight", 1) if isinstance(caps, dict) else 1)
    return ring


def members_view(capabilities: Mapping[bytes, Any]) -> list[dict[str, Any]]:
    """Members as shown by `poller cluster`: id, host, pid, last heartbeat, delivered sinks."""
    out = []
    for member, caps in sorted(capabilities.items()):
        caps = caps if isinstance(caps, dict) else {}
        out.append({"id": member.decode(errors="replace"), "host": caps.get("host"), "pid": caps.get("pid"),
                    "last_heartbeat": caps.get("heartbeat"), "sinks": list(caps.get("sinks") or ())})
    return out
