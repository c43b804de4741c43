"""Three real `poller run` nodes with their own host names on one PostgreSQL database and a
coordination backend of the test's own: sources split instead of raced, a `kill -9` and a
frozen node (SIGSTOP) survived, one deliverer per durable sink, cluster-wide health.

Everything is real: the installed console script, PostgreSQL (POLLER_TEST_PG_URL), etcd
or redis-server started from the Debian binaries on loopback, HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, _drop_pg_database, _new_pg_database
from tests.e2e.cluster_nodes import (
    Node,
    between,
    can_unshare,
    node_config,
    poller_command,
    runs,
    static_sources,
    write_revs,
)
from tests.poller.service.backends import Backend, running_backend
from tests.poller.service.helpers import read_jsonl, wait_for

if not IN_CI:
    pytest.importorskip("tooz")

NAMES = ("node-a", "node-b", "node-c")


@pytest.fixture
def pg_db(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database shared by the nodes."""
    name, url = _new_pg_database(pg_server)
    try:
        yield url
    finally:
        _drop_pg_database(pg_server, name)


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Backend]:
    """An etcd of our own on loopback."""
    with running_backend("etcd", tmp_path / "etcd") as started:
        yield started


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Backend]:
    """A redis-server of our own on loopback."""
    with running_backend("redis", tmp_path / "redis") as started:
        yield started


class Cluster:
    """The test's nodes: started with their own host names (or member ids), killed at the end."""

    def __init__(self, workdir: Path, db: str, backend: str, sources: list[dict[str, Any]], **settings: Any) -> None:
        self.workdir, self.db, self.backend, self.sources, self.settings = workdir, db, backend, sources, settings
        self.own_hostname = can_unshare()
        self.nodes: dict[str, Node] = {}

    def start(self, name: str) -> Node:
        """Start one node; its jsonl sink writes out-<name>.jsonl."""
        config = node_config(self.workdir / f"{name}.yaml", db=self.db, backend=self.backend, sources=self.sources,
                             sink=self.workdir / f"out-{name}.jsonl",
                             member_id=None if self.own_hostname else f"{name}:1", **self.settings)
        node = Node(name, config, self.own_hostname)
        self.nodes[name] = node
        return node

    def host(self, name: str) -> str:
        """The host part the node's run holders carry."""
        return name if self.own_hostname else __import__("socket").gethostname()

    def view(self) -> dict[str, Any]:
        """`poller cluster --format json` through the first node's config."""
        config = next(iter(self.nodes.values())).config
        done = subprocess.run([*poller_command(), "--config", str(config), "cluster", "--format", "json"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def delivered(self) -> Counter[str]:
        """How many times each notification id was written, over every node's jsonl file."""
        return Counter(n["id"] for name in NAMES for n in read_jsonl(self.workdir / f"out-{name}.jsonl"))

    def kill_all(self) -> None:
        """Teardown: no node survives the test."""
        for node in self.nodes.values():
            node.kill()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Any]:
    """A factory of clusters; every node is killed at the end."""
    made: list[Cluster] = []

    def make(db: str, backend: str, sources: list[dict[str, Any]], **settings: Any) -> Cluster:
        cluster = Cluster(tmp_path, db, backend, sources, **settings)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.kill_all()


def now() -> datetime:
    """The current UTC time (runs record the node's own clock; all nodes share this machine's)."""
    return datetime.now(UTC)


def owners_by_host(rows: list[Any]) -> dict[str, set[str]]:
    """Source -> the hosts that ran it among ``rows``."""
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r.source, set()).add(r.host)
    return out


@pytest.mark.slow
def test_three_nodes_split_sources_report_healthy_and_survive_kill9(tmp_path: Path, pg_db: str, etcd: Backend,
                                                                   make_cluster: Any) -> None:
    """F17: three nodes run as many runs as one node did (within 1.2x), each source on one node, /healthz 200 on
    every node; after `kill -9` of one node its sources run elsewhere within 30 s; every notification is delivered
    once by one node."""
    sources = static_sources(tmp_path, 12, interval=2)
    cluster = make_cluster(pg_db, etcd.url, sources, lease_ttl=6.0)
    alone = cluster.start("node-a")
    alone.wait_members(1)
    wait_for(lambda: len({r.source for r in runs(pg_db)}) == 12, timeout=60, what="every source run once")
    start = now()
    time.sleep(10)
    single = between(runs(pg_db), start, start + timedelta(seconds=10))

    for name in NAMES[1:]:
        cluster.start(name)
    for node in cluster.nodes.values():
        node.wait_members(3)
    time.sleep(3)  # taken-over sources start on their new node
    for inv in tmp_path.glob("inv-*.jsonl"):
        write_revs(inv, 1)
    start = now()
    time.sleep(10)
    rows = between(runs(pg_db), start, start + timedelta(seconds=10))
    assert len(rows) <= 1.2 * len(single), (len(rows), len(single))
    assert all(len(h) == 1 for h in owners_by_host(rows).values()), owners_by_host(rows)
    assert {r.source for r in rows} == {s["name"] for s in sources}, "a source went unpolled after the split"

    view = cluster.view()
    assert len(view["members"]) == 3 and all(view["sources"][s["name"]] for s in sources)
    # Each source ran on the node the ring gives it. Which nodes that is depends on the member ids
    # (host:pid): the ring may leave a node without any of 12 sources (~3% of pid draws), so the
    # hosts that ran are compared with the ring's owners, not with all three names.
    owner_host = {s: cluster.host(owner.rsplit(":", 1)[0]) for s, owner in view["sources"].items()}
    assert {r.source: r.host for r in rows} == owner_host, (owners_by_host(rows), view["sources"])
    assert len(set(owner_host.values())) >= 2 or not cluster.own_hostname, view["sources"]

    for node in cluster.nodes.values():
        for _ in range(3):
            assert node.get("/healthz")[0] == 200
        assert node.get("/livez") == (200, node.get("/livez")[1]) and node.get("/livez")[1]["status"] == "alive"

    holder = view["sinks"]["file"]
    assert holder is not None
    owned = Counter(view["sources"].values())
    victim_id = max((m["id"] for m in view["members"] if m["id"] != holder), key=lambda m: owned[m])
    victim = next(n for n in cluster.nodes.values() if victim_id.startswith(n.name) or victim_id == f"{n.name}:1")
    moved = [s for s, owner in view["sources"].items() if owner == victim_id]
    assert moved, view["sources"]  # the victim has sources to hand over
    victim.signal(signal.SIGKILL)
    killed = now()
    for inv in tmp_path.glob("inv-*.jsonl"):
        write_revs(inv, 2)

    def taken_over() -> bool:
        after = [r for r in runs(pg_db) if r.started_at > killed and r.status == "ok"]
        return set(moved) <= {r.source for r in after}

    wait_for(taken_over, timeout=30, what=f"{moved} run by the survivors after kill -9")
    survivors = [n for n in cluster.nodes.values() if n is not victim]
    wait_for(lambda: all(n.get("/healthz")[0] == 200 for n in survivors), timeout=30, what="survivors healthy")
    time.sleep(3)
    for node in survivors:
        assert node.stop() == 0
    assert_delivered_once(pg_db, cluster)


def assert_delivered_once(db: str, cluster: Cluster, duplicates_allowed: bool = False) -> None:
    """Every notification of the outbox is in some node's jsonl file (and, unless allowed, in only one, once)."""
    from baseline.store import open_store

    delivered = cluster.delivered()
    store = open_store(db)
    try:
        missing = [(r.seq, r.source, r.run_id) for r in store.history() if r.id not in delivered]
        cursor = store.cursor("file")
    finally:
        store.close()
    assert missing == [], f"{len(missing)} never delivered (seq, source, run): {missing[:5]}; cursor {cursor}"
    if not duplicates_allowed:
        assert [i for i, times in delivered.items() if times > 1] == []


@pytest.mark.slow
def test_frozen_node_moves_its_work_and_wakes_without_stale_commits(tmp_path: Path, pg_db: str, redis: Backend,
                                                                    make_cluster: Any) -> None:
    """F22: the sink's deliverer frozen (SIGSTOP) past its heartbeat: its sources and the sink move; woken (SIGCONT)
    it starts no run before it has rejoined, no source's committed runs overlap, no entity's state goes back, and no
    notification is lost."""
    sources = static_sources(tmp_path, 6, interval=1)
    cluster = make_cluster(pg_db, redis.url, sources, membership_timeout=4.0, lease_ttl=6.0)
    cluster.start(NAMES[0]).wait_members(1)  # the first one migrates the new database
    for name in NAMES[1:]:
        cluster.start(name)
    for node in cluster.nodes.values():
        node.wait_members(3)
    churn_stop = threading.Event()

    def churn() -> None:
        rev = 1
        while not churn_stop.wait(0.3):
            for inv in tmp_path.glob("inv-*.jsonl"):
                write_revs(inv, rev)
            rev += 1

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        frozen = wait_for(lambda: next((n for n in cluster.nodes.values() if n.matching("sink_claimed", sink="file")), None),
                          timeout=30, what="the sink claimed")
        time.sleep(2)
        its_sources = frozen.assignment()["owned"]
        frozen.signal(signal.SIGSTOP)
        stopped = now()
        others = {cluster.host(n) for n in NAMES if n != frozen.name}

        def moved() -> bool:
            after = {r.source for r in runs(pg_db) if r.started_at > stopped and r.status == "ok" and r.host in others}
            return set(its_sources) <= after

        wait_for(moved, timeout=30, what=f"{its_sources} run by the others while {frozen.name} is frozen")
        wait_for(lambda: any(n.matching("sink_claimed", sink="file") for n in cluster.nodes.values() if n is not frozen),
                 timeout=30, what="the sink taken over")
        time.sleep(1)
        frozen.signal(signal.SIGCONT)
        woken = now()
        rejoining = wait_for(lambda: [e for e in frozen.matching("cluster_rejoining")
                                      if datetime.fromisoformat(e["timestamp"]) > woken], timeout=30, what="the woken node rejoining")
        rejoined = datetime.fromisoformat(rejoining[0]["timestamp"])
        time.sleep(5)  # its share comes back to it; what it then commits is checked below
    finally:
        churn_stop.set()
        churner.join()
    time.sleep(3)
    for node in cluster.nodes.values():
        assert node.stop() == 0

    every = runs(pg_db)
    assert [r.id for r in every if r.host == cluster.host(frozen.name) and stopped <= r.started_at < rejoined] == []
    committed: dict[str, list[Any]] = {}
    for r in every:
        if r.status == "ok" and r.finished_at is not None:
            committed.setdefault(r.source, []).append(r)
    for source, rs in committed.items():
        rs.sort(key=lambda r: r.started_at)
        for a, b in zip(rs, rs[1:], strict=False):
            assert a.finished_at <= b.started_at or a.host == b.host, (source, a, b)
    assert_no_regression(pg_db)
    assert_delivered_once(pg_db, cluster, duplicates_allowed=True)


def assert_no_regression(db: str) -> None:
    """Per entity, the rev carried by its notifications only grows in outbox order (a stale commit would lower it)."""
    from baseline.store import open_store

    store = open_store(db)
    try:
        last: dict[tuple[str, str], int] = {}
        for row in store.history():
            body = json.loads(row.body)
            entity = body.get("entity") or {}
            rev = (entity.get("attributes") or entity).get("rev")
            if rev is None:
                continue
            key = (row.source, row.key)
            assert rev > last.get(key, -1), (key, rev, last.get(key))
            last[key] = rev
    finally:
        store.close()


@pytest.mark.slow
def test_backend_lost_stops_scheduling_after_grace_and_rejoins(tmp_path: Path, make_cluster: Any) -> None:
    """Redis stopped under a node: it logs once, keeps its sources for the grace period, then schedules nothing
    and /healthz answers 503 while /livez stays 200; redis back (empty): the node rejoins by itself and runs again."""
    server = Backend("redis", tmp_path / "redis").start()
    try:
        db = f"sqlite:///{tmp_path}/b.db"
        cluster = make_cluster(db, server.url, static_sources(tmp_path, 3, interval=1), membership_timeout=3.0)
        node = cluster.start("node-a")
        node.wait_members(1)
        wait_for(lambda: len({r.source for r in runs(db)}) == 3, timeout=60, what="every source run")
        server.stop()
        node_events = lambda name: node.matching(name)  # noqa: E731
        wait_for(lambda: node_events("coordination_grace_expired"), timeout=30, what="grace expired")
        expired = now()
        assert len(node_events("coordination_unavailable")) == 1
        status, body = node.get("/healthz")
        assert status == 503 and body["status"] == "coordination_lost"
        assert node.get("/livez")[0] == 200
        time.sleep(3)
        assert [r for r in runs(db) if r.started_at > expired + timedelta(seconds=1.5)] == []
        server.start()
        wait_for(lambda: node_events("coordination_recovered"), timeout=30, what="recovered")
        back = now()
        wait_for(lambda: len({r.source for r in runs(db) if r.started_at > back}) == 3, timeout=30, what="runs again")
        wait_for(lambda: node.get("/healthz")[0] == 200, timeout=30, what="healthy again")
        assert len(node_events("coordination_grace_expired")) == 1
        assert node.stop() == 0
    finally:
        server.stop()


def test_unknown_backend_scheme_exits_2_with_one_line(tmp_path: Path) -> None:
    """A backend_url with a scheme tooz does not know stops `poller run` at start: exit 2, one line naming the key."""
    config = node_config(tmp_path / "p.yaml", db=f"sqlite:///{tmp_path}/b.db", backend="etcd://127.0.0.1:2379", sources=[],
                         sink=None)
    done = subprocess.run([*poller_command(), "--config", str(config), "run"], capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "coordination.backend_url" in lines[0] and "Traceback" not in done.stderr


def test_cluster_command_without_backend_fails_in_one_line(tmp_path: Path) -> None:
    """`poller cluster` against a backend that does not answer exits 1 with one line naming the backend, no URL secrets."""
    from tests.poller.service.backends import free_port

    config = node_config(tmp_path / "p.yaml", db=f"sqlite:///{tmp_path}/b.db",
                         backend=f"redis://:s3cret@127.0.0.1:{free_port()}?socket_connect_timeout=1", sources=[], sink=None)
    config.chmod(0o600)  # else S05's warning about the inline URL password is a second line
    done = subprocess.run([*poller_command(), "--config", str(config), "cluster"], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "does not answer" in lines[0] and "s3cret" not in done.stderr


def test_sighup_on_a_cluster_node_adds_a_source_to_the_ring(tmp_path: Path, redis: Backend, make_cluster: Any) -> None:
    """A reload that adds a source and reschedules another: the node schedules the new one once its ring says so,
    keeps the rescheduled one running, and logs no error."""
    db = f"sqlite:///{tmp_path}/b.db"
    sources = static_sources(tmp_path, 3, interval=1)
    cluster = make_cluster(db, redis.url, sources, membership_timeout=3.0)
    node = cluster.start("node-a")
    node.wait_members(1)
    wait_for(lambda: len({r.source for r in runs(db)}) == 3, timeout=60, what="every source run")
    (tmp_path / "more").mkdir()
    added = [{**static_sources(tmp_path / "more", 1, interval=1)[0], "name": "extra"}]
    changed = [{**sources[0], "interval": 2}, *sources[1:], *added]
    config = json.loads(node.config.read_text())
    config["sources"] = changed
    node.config.write_text(json.dumps(config))
    node.signal(signal.SIGHUP)
    wait_for(lambda: node.matching("config_reloaded") or node.matching("config_rejected"), timeout=30,
             what=f"the reload (log: {node.events[-3:]})")
    assert node.matching("config_rejected") == []
    assert node.matching("config_reloaded")[0]["added"] == ["extra"]
    wait_for(lambda: "extra" in {r.source for r in runs(db)}, timeout=30, what="the added source run")
    reloaded = now()
    wait_for(lambda: sources[0]["name"] in {r.source for r in runs(db) if r.started_at > reloaded}, timeout=30,
             what="the rescheduled source still run")
    assert [e for e in node.events if e.get("level") == "error"] == []
    assert node.stop() == 0
