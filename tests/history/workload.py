"""The workload: several `poller run` nodes on one baseline while inventories churn and faults strike.

Owns the run directory (config, inventories, mutation log, fault log, sink files, node logs), the
node processes (distinct hostnames via ``unshare -u`` when root), the fault schedule (kill -9,
SIGSTOP past the lease, a restart of the private PostgreSQL cluster) and the final quiet
snapshot. It never judges the result: tests/history/checker.py does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.history.cloud import VM_TYPE, CloudSource
from tests.history.inventory import Inventory, MutationLog

ROOT = Path(__file__).resolve().parents[2]
SINKS = ("sink_a", "sink_b", "hook")  # two jsonl sinks and a webhook, all durable, shared by every node


class Receiver:
    """A webhook receiver on 127.0.0.1 that appends what it accepts to a JSON Lines file, in arrival order.

    While ``faulty``, it answers 503 to about one request in eight and delays about one in ten by 0.3 s
    (a flaky, slow receiver: retried by the dispatcher, never parked).
    """

    def __init__(self, path: Path, seed: int) -> None:
        import http.server

        self.path, self.faulty, self.rng, self.lock = path, True, random.Random(seed), threading.Lock()
        self.requests = self.failures = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.receive(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()

    def receive(self, body: bytes) -> int:
        with self.lock:
            self.requests += 1
            roll = self.rng.random() if self.faulty else 1.0
            if roll < 0.125:
                self.failures += 1
                return 503
            if roll < 0.225:
                time.sleep(0.3)
            events = orjson.loads(body)
            with self.path.open("ab") as handle:
                for event in events if isinstance(events, list) else [events]:
                    handle.write(orjson.dumps(event) + b"\n")
            return 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def poller_command() -> list[str]:
    """The installed console script (the checkout's cli.py when it is not installed)."""
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def can_set_hostname() -> bool:
    """True when ``unshare -u`` can give a process a hostname of its own here (root, and allowed)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-u", "sh", "-c", "hostname hc-probe && hostname"], capture_output=True,
                          text=True, timeout=10, check=False)
    return done.returncode == 0 and done.stdout.strip() == "hc-probe"


def lease_ttl_supported() -> bool:
    """True when this poller has ``service.lease_ttl`` (issue 12 item 3)."""
    from poller.config import ServiceConfig

    return "lease_ttl" in {f.name for f in dataclasses.fields(ServiceConfig)}


@dataclass
class Plan:
    """What the workload does: sizes, durations and which faults, with defaults for the short CI form."""

    duration: float = 60.0  # seconds of churn with the nodes running
    nodes: int = 3
    workers: int = 4
    small_sources: int = 3
    small_size: int = 150
    churn_every: float = 0.25  # seconds between two rewrites of some small source
    bulk_sources: int = 1
    bulk_size: int = 4000  # entities loaded into each bulk source at once
    lease_ttl: float = 6.0  # when the poller supports service.lease_ttl
    kill: bool = True
    freeze: bool = True
    restart_database: bool = True  # PostgreSQL only
    cloudstack_size: int = 60  # VMs of the CloudStack emulator source (0: none)
    seed: int = 12


@dataclass
class Node:
    """One `poller run` process and where its log goes."""

    name: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    stopped: bool = False
    expected: set[int] = field(default_factory=set)  # pids we killed or stopped: any other exit is an anomaly

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Workload:
    """Drives one history: start nodes, churn inventories, inject faults, stop, final quiet snapshot."""

    directory: Path
    db_url: str
    plan: Plan
    restart_database: Callable[[], None] | None = None  # set for the private PostgreSQL cluster
    say: Callable[[str], None] = lambda message: None
    faults: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.plan.seed)
        for sub in ("inv", "sinks", "logs"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.log = MutationLog(self.directory / "mutations.jsonl")
        self.small = [Inventory(f"small{i}", self.directory / "inv" / f"small{i}.jsonl", self.log)
                      for i in range(1, self.plan.small_sources + 1)]
        self.bulk = [Inventory(f"bulk{i}", self.directory / "inv" / f"bulk{i}.jsonl", self.log)
                     for i in range(1, self.plan.bulk_sources + 1)]
        self.clouds: list[CloudSource] = []
        self.hostnames = can_set_hostname()
        self.lease_ttl = self.plan.lease_ttl if lease_ttl_supported() else None
        self.config = self.directory / "poller.yaml"
        self.receiver = Receiver(self.directory / "sinks" / "hook.jsonl", self.plan.seed)
        self._lock = threading.Lock()  # one rewrite at a time, so the log's order is the files' order
        self._fault_lock = threading.Lock()

    # -- setup ---------------------------------------------------------------------------------------

    def write_config(self) -> None:
        """One poller.yaml for every node: the sources, two durable jsonl sinks shared by all nodes."""
        sources = []
        for inv in self.small:
            sources.append(self._source(inv, interval=1, jitter=0.3))
        for inv in self.bulk:
            sources.append(self._source(inv, interval=2, jitter=0.5))
        for cloud in self.clouds:
            sources.append({"name": cloud.source, "collector": "cloudstack", "interval": 1, "jitter": 0.3,
                            "entity_types": [VM_TYPE], "options": cloud.options()})
        service: dict[str, Any] = {"workers": self.plan.workers, "stop_timeout": 15}
        if self.lease_ttl is not None:
            service["lease_ttl"] = self.lease_ttl
        doc = {
            "baseline": {"url": self.db_url},
            "deletion": {"max_fraction": 1.0},  # the guard is not under test: every absence is a deletion
            "notify": {"sinks": [
                *({"name": name, "type": "jsonl", "path": str(self.directory / "sinks" / f"{name}.jsonl")}
                  for name in SINKS if name != "hook"),
                {"name": "hook", "type": "webhook", "url": self.receiver.url, "batch_size": 50, "timeout": 5},
            ]},
            "service": service,
            "sources": sources,
        }
        self.config.write_text(json.dumps(doc, indent=1))

    def _source(self, inv: Inventory, *, interval: float, jitter: float) -> dict[str, Any]:
        options = {"path": str(inv.path), "types": ["vm", "net"]}
        return {"name": inv.source, "collector": "static", "interval": interval, "jitter": jitter, "options": options}

    def seed_inventories(self) -> None:
        """Generation 0 of every source: the small ones populated, the bulk ones empty."""
        for inv in self.small:
            inv.write(inv.create(self.plan.small_size))
        for inv in self.bulk:
            inv.write([])
        if self.plan.cloudstack_size:
            self.clouds.append(CloudSource("cs1", self.log, self.plan.cloudstack_size))

    # -- nodes ---------------------------------------------------------------------------------------

    def start_node(self, name: str, wait: bool = True) -> Node:
        """Start (or restart) node ``name``: `poller run` with its own hostname when possible; with ``wait``,
        return once it has started."""
        node = next((n for n in self.nodes if n.name == name), None)
        if node is None:
            node = Node(name, self.directory / "logs" / f"{name}.log")
            self.nodes.append(node)
        command = [*poller_command(), "--config", str(self.config), "--log-format", "json", "run"]
        if self.hostnames:
            quoted = " ".join(_quote(part) for part in command)
            command = ["unshare", "-u", "sh", "-c", f"hostname {name} && exec {quoted}"]
        env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
        started_before = self._started_count(node)
        with node.log.open("ab") as log:
            node.proc = subprocess.Popen(command, cwd=self.directory, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        node.stopped = False
        self.fault("start", node=name, pid=node.proc.pid)
        threading.Thread(target=self._watch, args=(node, node.proc), daemon=True).start()
        if wait:
            self.wait_started(node, started_before)
        return node

    def wait_started(self, node: Node, started_before: int, timeout: float = 120.0) -> None:
        """Wait until the node logged ``service_started`` once more (or exited): a fault must not strike a node
        still starting, whose documented answer to an unreachable database is to exit 1."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and node.alive() and self._started_count(node) <= started_before:
            time.sleep(0.1)

    @staticmethod
    def _started_count(node: Node) -> int:
        return node.log.read_bytes().count(b'"service_started"') if node.log.exists() else 0

    def _watch(self, node: Node, proc: subprocess.Popen[bytes]) -> None:
        """Record a node that exits without being killed or stopped (with its last log line)."""
        code = proc.wait()
        if proc.pid not in node.expected:
            lines = node.log.read_bytes().decode(errors="replace").strip().splitlines()
            self.fault("node_exited", node=node.name, exit=code, last_line=(lines[-1] if lines else "")[:300])

    def fault(self, kind: str, **details: Any) -> None:
        """Record a fault (or a start/stop) with its time in faults.jsonl."""
        with self._fault_lock:
            entry = {"t": time.time(), "kind": kind, **details}
            self.faults.append(entry)
            with (self.directory / "faults.jsonl").open("ab") as handle:
                handle.write(orjson.dumps(entry) + b"\n")
        self.say(f"{kind} {details}")

    def kill9(self, name: str) -> None:
        node = self._node(name)
        if node.alive():
            assert node.proc is not None
            node.expected.add(node.proc.pid)
            node.proc.kill()
            node.proc.wait(timeout=30)
            self.fault("kill9", node=name)

    def freeze(self, name: str, seconds: float) -> None:
        """SIGSTOP the node while it holds a source's lease (mid-run; waiting up to 10 s for one), keep it
        stopped ``seconds`` (past its lease), then SIGCONT it."""
        node = self._node(name)
        if not node.alive():
            return
        assert node.proc is not None
        held = self._wait_lease_held_by(node, 10.0)
        node.proc.send_signal(signal.SIGSTOP)
        node.stopped = True
        self.fault("sigstop", node=name, seconds=seconds, holding=held)
        time.sleep(seconds)
        if node.alive():
            node.proc.send_signal(signal.SIGCONT)
        node.stopped = False
        self.fault("sigcont", node=name)

    def _wait_lease_held_by(self, node: Node, timeout: float) -> str | None:
        """The source whose lease ``node`` holds, polled until it holds one (None after ``timeout``)."""
        import sqlalchemy as sa

        assert node.proc is not None
        pid = f":{node.proc.pid}:"
        engine = sa.create_engine(self.db_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    with engine.connect() as conn:
                        for source, holder in conn.execute(sa.text("SELECT source, holder FROM poller_leases")):
                            if pid in f"{holder}:" or holder.startswith(f"{node.name}:"):
                                return str(source)
                except sa.exc.SQLAlchemyError:
                    pass
                time.sleep(0.02)
        finally:
            engine.dispose()
        return None

    def _node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def stop_nodes(self) -> None:
        """SIGCONT what is stopped, SIGTERM every node, and wait; kill -9 a node that does not exit."""
        for node in self.nodes:
            if node.alive() and node.stopped:
                assert node.proc is not None
                node.proc.send_signal(signal.SIGCONT)
                node.stopped = False
        told = []
        for node in self.nodes:
            if node.alive():
                assert node.proc is not None
                node.expected.add(node.proc.pid)
                node.proc.send_signal(signal.SIGTERM)
                told.append(node)
        for node in told:
            assert node.proc is not None
            try:
                code = node.proc.wait(timeout=60)
                self.fault("stopped", node=node.name, exit=code)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=30)
                self.fault("stop_timeout_killed", node=node.name)

    # -- the history -----------------------------------------------------------------------------------

    def churn(self, until: float) -> None:
        """Rewrite a random small source every ``churn_every`` seconds until ``until``."""
        while time.time() < until:
            target: Inventory | CloudSource = self.rng.choice([*self.small, *self.clouds])
            with self._lock:
                if isinstance(target, CloudSource):
                    target.churn(self.rng, self.rng.randint(1, 4))
                else:
                    target.write(target.churn(self.rng, self.rng.randint(1, 4)))
            time.sleep(self.plan.churn_every * self.rng.uniform(0.5, 1.5))

    def bulk_event(self, what: str) -> None:
        """Load, update a tenth of, or delete a fifth of every bulk source at once."""
        for inv in self.bulk:
            with self._lock:
                if what == "load":
                    inv.write(inv.create(self.plan.bulk_size))
                elif what == "update":
                    inv.write(inv.update_fraction(self.rng, 0.1))
                else:
                    victims = self.rng.sample(list(inv.alive), len(inv.alive) // 5)
                    for ident in victims:
                        inv.gone[ident] = inv.alive.pop(ident)
                    inv.write([(*ident, None) for ident in victims])
        self.fault(f"bulk_{what}", sources=[inv.source for inv in self.bulk])

    def schedule(self) -> list[tuple[float, str, Callable[[], None]]]:
        """(fraction of the duration, label, action) for the faults and bulk events of this plan."""
        d, plan = self.plan.duration, self.plan
        lease = self.lease_ttl if self.lease_ttl is not None else 120.0
        events: list[tuple[float, str, Callable[[], None]]] = [
            (0.10, "bulk load", lambda: self.bulk_event("load")),
            (0.45, "bulk update", lambda: self.bulk_event("update")),
            (0.75, "bulk delete", lambda: self.bulk_event("delete")),
        ]
        names = [n.name for n in self.nodes]
        if plan.kill and len(names) >= 2:
            events += [(0.20, "kill -9 node2", lambda: self.kill9(names[1])),
                       (0.40, "restart node2", lambda: self.start_node(names[1]) and None),
                       (0.65, "kill -9 node1", lambda: self.kill9(names[0])),
                       (0.80, "restart node1", lambda: self.start_node(names[0]) and None)]
        if plan.freeze and len(names) >= 3:
            seconds = min(lease * 1.5 + 1, max(3.0, d * 0.35))
            for fraction, name in ((0.30, names[2]), (0.42, names[0])):
                events.append((fraction, f"freeze {name}", lambda name=name: threading.Thread(  # type: ignore[misc]
                    target=self.freeze, args=(name, seconds), daemon=True).start()))
        if plan.restart_database and self.restart_database is not None:
            events.append((0.55, "restart PostgreSQL", self._restart_database))
        return sorted(events, key=lambda e: e[0])

    def _restart_database(self) -> None:
        assert self.restart_database is not None
        self.fault("database_restart_begin")
        self.restart_database()
        self.fault("database_restart_end")

    def run(self) -> None:
        """The whole history, up to and including the final quiet snapshot."""
        self.seed_inventories()
        self.write_config()
        counts = {f"node{i}": 0 for i in range(1, self.plan.nodes + 1)}
        started = [self.start_node(name, wait=False) for name in counts]  # together: migrations race
        for node in started:
            self.wait_started(node, counts[node.name])
        began = time.time()
        until = began + self.plan.duration
        churner = threading.Thread(target=self.churn, args=(until,), daemon=True)
        churner.start()
        try:
            for fraction, label, action in self.schedule():
                delay = began + fraction * self.plan.duration - time.time()
                if delay > 0:
                    time.sleep(delay)
                self.say(f"t+{time.time() - began:.0f}s {label}")
                action()
            churner.join()
        finally:
            self.log.close()
            self.stop_nodes()
        try:
            self.receiver.faulty = False  # the final snapshots deliver every backlog
            self.final_snapshots()
        finally:
            self.receiver.close()
            for cloud in self.clouds:
                cloud.close()
        self.fault("receiver", requests=self.receiver.requests, answered_503=self.receiver.failures)

    def final_snapshots(self) -> None:
        """Snapshot until every source ran ``ok`` once (leases of killed nodes lapse), then once more: quiet."""
        sources = [inv.source for inv in (*self.small, *self.bulk, *self.clouds)]
        pending = set(sources)
        deadline = time.time() + (self.lease_ttl or 120.0) * 2 + 60
        while pending and time.time() < deadline:
            statuses = self.snapshot(sorted(pending), "settle")
            pending -= {s for s, status in statuses.items() if status == "ok"}
            if pending:
                time.sleep(1)
        self.fault("settled", unsettled=sorted(pending))
        statuses = self.snapshot(sources, "quiet")
        self.fault("quiet_snapshot", statuses=statuses)

    def snapshot(self, sources: list[str], label: str) -> dict[str, str]:
        """One `poller snapshot` of ``sources``; each source's status from its summary line."""
        command = [*poller_command(), "--config", str(self.config), "snapshot", "--format", "jsonl"]
        for name in sources:
            command += ["--source", name]
        done = subprocess.run(command, cwd=self.directory, capture_output=True, text=True, timeout=600, check=False)
        with (self.directory / "logs" / "snapshots.log").open("a") as log:
            log.write(f"== {label} exit {done.returncode}\n{done.stderr}\n")
        (self.directory / f"snapshot-{label}.jsonl").write_text(done.stdout)
        statuses = {}
        for line in done.stderr.splitlines():
            try:  # a JSON log line (stderr is not a terminal): {"event": "source_summary", "source": ..., "status": ...}
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                if event.get("event") == "source_summary" and event.get("source") in sources:
                    statuses[event["source"]] = str(event.get("status"))
                continue
            name, _, rest = line.partition(": ")  # the plain summary line "<source>: <status>, ..."
            if name in sources and rest:
                statuses[name] = rest.split(",")[0].split()[0]
        return statuses


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\"'\"'") + "'"


@contextlib.contextmanager
def private_postgres_database() -> Any:
    """(admin cluster, database URL) on a private PostgreSQL cluster started for this history."""
    from tests.conftest import _new_pg_database
    from tests.private_servers import PrivatePostgres

    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        _, url = _new_pg_database(cluster.admin_url)
        yield cluster, url
    finally:
        cluster.close()
