"""Benchmark: one `poller run` node against three cluster nodes sharing 60 sources through tooz.

    python bench/cluster.py [--sources 60] [--interval 5] [--seconds 60] [--backend etcd|redis]
                            [--pg postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres]

Starts its own etcd (or redis-server) on loopback and a fresh PostgreSQL database (on the
server of --pg or $POLLER_TEST_PG_URL), writes --sources static inventories of 50 vms,
then measures twice for --seconds each, after the nodes settled: one node alone with the
coordination section (it owns every source), then three nodes (its own host name each,
`unshare -u` when root). Prints the runs per interval (one run per source per interval is
the ideal: --sources) and the CPU seconds each node used, from /proc via psutil.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import _drop_pg_database, _new_pg_database  # noqa: E402
from tests.e2e.cluster_nodes import Node, can_unshare, node_config, runs, static_sources  # noqa: E402
from tests.poller.service.backends import running_backend  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process and its children so far."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:2])
    return total


def measure(nodes: list[Node], db: str, seconds: float) -> tuple[int, dict[str, int], dict[str, float]]:
    """Runs started in the next ``seconds`` (all, and per node) and each node's CPU seconds over them."""
    before = {n.name: cpu_seconds(n.proc.pid) for n in nodes}
    start = datetime.now(UTC)
    time.sleep(seconds)
    end = start + timedelta(seconds=seconds)
    cpu = {n.name: cpu_seconds(n.proc.pid) - before[n.name] for n in nodes}
    window = [r for r in runs(db) if start <= r.started_at < end]
    hosts = {n.name: sum(1 for r in window if r.host == n.name) for n in nodes}
    return len(window), hosts, cpu


def main() -> int:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backend", choices=["etcd", "redis"], default="etcd")
    parser.add_argument("--pg", default=os.environ.get("POLLER_TEST_PG_URL"))
    args = parser.parse_args()
    if not args.pg:
        parser.error("a PostgreSQL server is needed: --pg URL or POLLER_TEST_PG_URL")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    own = can_unshare()
    name, db = _new_pg_database(args.pg)
    started: list[Node] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, running_backend(args.backend, Path(tmp) / "backend") as backend:
            work = Path(tmp)
            sources = static_sources(work, args.sources, args.interval)
            for inv in work.glob("inv-*.jsonl"):
                inv.write_text("".join(
                    f'{{"type": "vm", "key": "vm-{n}", "name": "vm{n}", "attributes": {{"rev": 0, "pad": "{"x" * 200}"}}}}\n'
                    for n in range(50)))

            def start(node: str) -> Node:
                config = node_config(work / f"{node}.yaml", db=db, backend=backend.url, sources=sources, sink=work / f"out-{node}.jsonl",
                                     member_id=None if own else f"{node}:1", heartbeat=2.0, membership_timeout=10.0)
                started.append(Node(node, config, own))
                return started[-1]

            first = start("node-a")
            first.wait_members(1)
            time.sleep(2 * args.interval)  # every source had its first load
            one_runs, _, one_cpu = measure([first], db, args.seconds)
            for node in ("node-b", "node-c"):
                start(node)
            for node in started:
                node.wait_members(3)
            time.sleep(2 * args.interval)
            three_runs, per_node, three_cpu = measure(started, db, args.seconds)
            intervals = args.seconds / args.interval
            print(f"bench/cluster.py  commit {commit}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  backend {args.backend}  "
                  f"{args.sources} sources every {args.interval:g}s, {args.seconds:g}s per phase, 2 cores shared")
            print(f"one node:    {one_runs / intervals:6.1f} runs per interval (ideal {args.sources}), "
                  f"CPU {one_cpu['node-a']:.1f}s = {100 * one_cpu['node-a'] / args.seconds:.0f}% of a core")
            print(f"three nodes: {three_runs / intervals:6.1f} runs per interval in all ({three_runs / max(1, one_runs):.2f}x one node), "
                  f"CPU {sum(three_cpu.values()):.1f}s in all ({sum(three_cpu.values()) / max(0.1, one_cpu['node-a']):.2f}x one node)")
            for node in started:
                print(f"  {node.name}: {per_node[node.name] / intervals:6.1f} runs per interval, CPU {three_cpu[node.name]:.1f}s "
                      f"= {100 * three_cpu[node.name] / args.seconds:.0f}% of a core")
            for node in started:
                node.signal(signal.SIGTERM)
            for node in started:
                node.proc.wait(timeout=60)
    finally:
        for node in started:
            node.kill()
        _drop_pg_database(args.pg, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
