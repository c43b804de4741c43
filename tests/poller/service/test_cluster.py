"""Cluster membership against real coordination backends: etcd and redis-server of the test's own.

Several ``Cluster`` objects in one process stand for several nodes (each has its own
tooz coordinator and member id, exactly as separate processes would); the multi-process
scenarios with real `poller run` nodes are in tests/e2e/test_cluster.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.config import Config, CoordinationConfig, NotifyConfig, SinkConfig, SourceConfig
from poller.service.cluster import Cluster
from poller.service.roster import roster
from tests.conftest import IN_CI
from tests.poller.service.backends import BACKENDS, Backend, running_backend
from tests.poller.service.helpers import wait_for

if not IN_CI:
    pytest.importorskip("tooz")

SOURCES = [f"s{i:02d}" for i in range(12)]
HEARTBEAT, TIMEOUT = 0.3, 2.0


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A coordination server of our own: etcd, then redis."""
    with running_backend(request.param, tmp_path / request.param) as started:
        yield started


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Backend]:
    """An etcd of our own (sink-lock tests run on one backend; membership tests on both)."""
    with running_backend("etcd", tmp_path / "etcd") as started:
        yield started


def section(url: str, member: str, **extra: float) -> CoordinationConfig:
    """A coordination section with fast heartbeats for tests."""
    return CoordinationConfig(url, "t", HEARTBEAT, member, extra.get("timeout", TIMEOUT), extra.get("grace"))


class Nodes:
    """Started Cluster objects, stopped at the end."""

    def __init__(self) -> None:
        self.started: list[Cluster] = []

    def start(self, url: str, member: str, sinks: tuple[str, ...] = ("file",), **extra: float) -> Cluster:
        node = Cluster(section(url, member, **extra), SOURCES, sinks)
        node.start()
        self.started.append(node)
        return node


@pytest.fixture
def nodes() -> Iterator[Nodes]:
    """Cluster nodes, stopped whatever the test did."""
    made = Nodes()
    yield made
    stopping = [threading.Thread(target=node.stop, args=(2.0,)) for node in made.started]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def settled(cluster: list[Cluster], members: int) -> bool:
    """Every node sees ``members`` members and the owned sets partition the sources."""
    snaps = [c.snapshot() for c in cluster]
    if any(s.members != members for s in snaps):
        return False
    owned = [s.owned for s in snaps]
    return sorted(x for o in owned for x in o) == SOURCES


def freeze(node: Cluster) -> None:
    """Stop the node's heartbeat thread without leaving the group: what SIGSTOP or kill -9 does to it."""
    node._halt.set()
    node._thread.join()


def thaw(node: Cluster) -> None:
    """Restart a frozen node's heartbeat thread (SIGCONT)."""
    node._halt.clear()
    node._thread = threading.Thread(target=node._loop, daemon=True)
    node._thread.start()


class TestMembership:
    """Sources split over the ring, and move when a member goes."""

    def test_three_members_split_every_source_once(self, backend: Backend, nodes: Nodes) -> None:
        """Three members own disjoint shares of the sources that together cover all of them, each member some."""
        cluster = [nodes.start(backend.url, f"n{i}") for i in range(3)]
        wait_for(lambda: settled(cluster, 3), timeout=20, what="three members splitting the sources")
        assert all(c.snapshot().owned for c in cluster)
        assert all(c.may_run(s) for c in cluster for s in c.snapshot().owned)

    def test_poller_cluster_view_matches_the_nodes(self, backend: Backend, nodes: Nodes) -> None:
        """The observer's view (`poller cluster`) names the same owner for every source and sink as the nodes hold."""
        cluster = [nodes.start(backend.url, f"n{i}") for i in range(3)]
        wait_for(lambda: settled(cluster, 3) and sum(len(c.snapshot().sinks) for c in cluster) == 1, timeout=20, what="settled")
        time.sleep(2 * HEARTBEAT)  # capabilities carry the claimed sink from the next cycle on
        config = Config(path="t.yaml", sources=tuple(SourceConfig(s, "noop") for s in SOURCES),
                        notify=NotifyConfig(sinks=(SinkConfig("file", "jsonl", {"path": "/dev/null"}),)),
                        coordination=section(backend.url, "observer"))
        view = roster(config)
        expected = {s: c.member_id for c in cluster for s in c.snapshot().owned}
        assert view.sources == expected
        assert view.sinks == {"file": next(c.member_id for c in cluster if c.snapshot().sinks)}
        assert sorted(m["id"] for m in view.members) == ["n0", "n1", "n2"] and all(m["last_heartbeat"] for m in view.members)

    def test_dead_member_sources_move(self, backend: Backend, nodes: Nodes) -> None:
        """A member that stops heartbeating is dropped within the membership timeout and the others own all its sources."""
        cluster = [nodes.start(backend.url, f"n{i}") for i in range(3)]
        wait_for(lambda: settled(cluster, 3), timeout=20, what="three members")
        gone = cluster[0]
        freeze(gone)
        wait_for(lambda: settled(cluster[1:], 2), timeout=TIMEOUT + 10, what="the two survivors owning everything")
        assert not any(gone.may_run(s) for s in SOURCES) or gone.snapshot().owned == frozenset()


class TestSinkLocks:
    """One deliverer per durable sink, taken over when its holder goes."""

    def test_exactly_one_member_delivers_each_sink(self, etcd: Backend, nodes: Nodes) -> None:
        """Sampled repeatedly, each of three sinks has exactly one member allowed to deliver it (etcd locks; the
        frozen-node e2e test covers redis locks)."""
        sinks = ("a", "b", "c")
        cluster = [nodes.start(etcd.url, f"n{i}", sinks) for i in range(3)]
        wait_for(lambda: settled(cluster, 3) and all(any(c.may_deliver(s) for c in cluster) for s in sinks), timeout=20,
                 what="every sink claimed")
        for _ in range(6):
            for sink in sinks:
                assert sum(c.may_deliver(sink) for c in cluster) == 1
            time.sleep(HEARTBEAT)

    def test_frozen_holder_loses_the_sink_and_its_sources(self, backend: Backend, nodes: Nodes) -> None:
        """F22: a holder frozen past its TTL trusts nothing when it wakes, another member delivers the sink, and the
        woken member rejoins and gets its share of sources back without delivering the sink a second time."""
        cluster = [nodes.start(backend.url, f"n{i}") for i in range(3)]
        wait_for(lambda: settled(cluster, 3) and any(c.may_deliver("file") for c in cluster), timeout=20, what="claimed")
        holder = next(c for c in cluster if c.may_deliver("file"))
        others = [c for c in cluster if c is not holder]
        owned_before = holder.snapshot().owned
        freeze(holder)
        wait_for(lambda: any(c.may_deliver("file") for c in others), timeout=TIMEOUT + 10, what="the sink taken over")
        assert not holder.may_deliver("file") and not any(holder.may_run(s) for s in owned_before)
        thaw(holder)
        wait_for(lambda: settled(cluster, 3), timeout=20, what="the woken member back in the ring")
        assert holder.snapshot().owned == owned_before
        assert sum(c.may_deliver("file") for c in cluster) == 1 and not holder.may_deliver("file")


class TestOutages:
    """The backend unreachable at start or lost later."""

    def test_unreachable_backend_retries_then_joins(self, tmp_path: Path, nodes: Nodes) -> None:
        """With nothing listening the node owns nothing and says why after the grace; once redis answers it joins."""
        server = Backend("redis", tmp_path / "redis")
        node = nodes.start(server.url, "n0")
        wait_for(lambda: node.snapshot().problem is not None, timeout=TIMEOUT + 10, what="the problem reported")
        assert node.snapshot().owned == frozenset() and "not joined" in str(node.snapshot().problem)
        server.start()
        try:
            wait_for(lambda: settled([node], 1), timeout=30, what="joined after the backend came up")
            assert node.snapshot().problem is None
        finally:
            server.stop()

    def test_backend_lost_keeps_assignment_for_grace_then_stops_and_rejoins(self, tmp_path: Path, nodes: Nodes) -> None:
        """Redis stopped: the last assignment holds for the grace period, then nothing is owned and the problem is
        reported; redis back (empty, on the same port): the node rejoins by itself and owns its share again."""
        server = Backend("redis", tmp_path / "redis").start()
        try:
            node = nodes.start(server.url, "n0", grace=4.0)
            wait_for(lambda: settled([node], 1), timeout=20, what="joined")
            server.stop()
            lost = time.monotonic()
            time.sleep(HEARTBEAT * 3)
            still = node.snapshot()
            if time.monotonic() - lost < 4.0 - HEARTBEAT:
                assert still.owned == frozenset(SOURCES) and still.problem is None
            wait_for(lambda: node.snapshot().problem is not None, timeout=20, what="grace expired")
            assert node.snapshot().owned == frozenset() and not node.may_run(SOURCES[0])
            server.start()
            wait_for(lambda: settled([node], 1) and node.snapshot().problem is None, timeout=30, what="rejoined")
        finally:
            server.stop()

