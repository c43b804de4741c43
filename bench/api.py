"""Benchmark: the API path — `poller snapshot` against the OpenStack and CloudStack emulators.

    python bench/api.py [--servers 100000] [--vms 100000] [--workers 1,all] [--clouds openstack,cloudstack]
                        [--tree PATH] [--tree-label NAME] [--repeat N]

Starts each emulator in its own process (so it does not share the poller's GIL), seeds it
(OpenStack: N servers; CloudStack: N VMs), and runs the real `poller snapshot` CLI with a
configuration listing only compute.server / cloudstack.virtualmachine (OpenStack with
``full_every: 1``, so every run is a full listing): a first load into an empty SQLite
baseline, then an idle re-poll (nothing changed). For each it prints wall seconds, the API
calls the emulator answered, peak RSS of the poller's process tree (workers included), and
where the poller's main process spent its time. ``--workers`` takes a comma-separated list
of ``service.hash_workers`` values (``all``: the key left out, one worker per core; ``1``:
everything in the main process) and prints the ratio of each idle re-poll to the first.
``--tree`` runs the same against another checkout (e.g. a commit before the change, via
``git archive``); the trees' baselines are compared (key -> hash), so a change of what is
hashed shows up as a mismatch. Timings come from wrapping a few per-page/per-run functions
in the poller process (`--probe`, below): their overhead is per page, not per entity.
"""

from __future__ import annotations

import argparse
import atexit
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import PeakMemory  # noqa: E402

TYPES = {"openstack": "compute.server", "cloudstack": "cloudstack.virtualmachine"}


# -- the emulators, each in a child process --------------------------------------------------------
def _openstack(conn: Connection, count: int) -> None:
    from collectors.openstack.emulator import OpenStackEmulator, http

    http._Handler.disable_nagle_algorithm = True  # headers and body are written apart (see _cloudstack)
    emu = OpenStackEmulator().start()
    emu.seed_demo()
    emu.seed_servers(count)
    conn.send(emu.source_options(full_every=1))
    _serve(conn, lambda: len(emu.requests), emu.reset_requests)
    emu.stop()


def _cloudstack(conn: Connection, count: int) -> None:
    from collectors.cloudstack.emulator import CloudStackEmulator, server

    server._Handler.disable_nagle_algorithm = True  # as bench/event_flood.py: no delayed-ACK artefact
    emu = CloudStackEmulator().start()
    emu.seed_scale(count)
    conn.send(emu.source_options())
    _serve(conn, lambda: len(emu.requests), emu.requests.clear)
    emu.stop()


def _serve(conn: Connection, count: Callable[[], int], reset: Callable[[], None]) -> None:
    """Answer the parent's "count"/"reset" until it says "stop" (the HTTP server runs in threads)."""
    while True:
        order = conn.recv()
        if order == "count":
            conn.send(count())
        elif order == "cpu":
            times = os.times()
            conn.send(times.user + times.system)
        elif order == "reset":
            reset()
            conn.send(True)
        else:
            return


class Emulator:
    """A seeded emulator in a child process."""

    def __init__(self, cloud: str, count: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        target = _openstack if cloud == "openstack" else _cloudstack
        self.proc = multiprocessing.get_context("fork").Process(target=target, args=(child, count), daemon=True)
        self.proc.start()
        self.options: dict[str, Any] = self.conn.recv()

    def calls(self) -> int:
        self.conn.send("count")
        return int(self.conn.recv())

    def cpu(self) -> float:
        """CPU seconds the emulator process used so far."""
        self.conn.send("cpu")
        return float(self.conn.recv())

    def reset(self) -> None:
        self.conn.send("reset")
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(30)


# -- one poller run ---------------------------------------------------------------------------------
def write_config(work: Path, cloud: str, options: dict[str, Any], workers: str) -> Path:
    """A configuration with one source listing one type into a SQLite baseline in ``work``."""
    config = {"baseline": {"url": f"sqlite:///{work / 'baseline.db'}"},
              "sources": [{"name": "bench", "collector": cloud, "entity_types": [TYPES[cloud]], "options": options}]}
    if workers != "all":
        config["service"] = {"hash_workers": int(workers)}
    path = work / "poller.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def run_snapshot(tree: Path, config: Path, emu: Emulator, label: str) -> dict[str, Any]:
    """`poller snapshot` once, under the probe; returns its figures."""
    probe = config.parent / "probe.json"
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    emu.reset()
    emu_cpu = emu.cpu()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--probe", str(probe), "--", "--config", str(config),
                             "snapshot", "--format", "jsonl"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, cwd=tree)
    sampler = PeakMemory(proc.pid, interval=0.1)
    _, err = proc.communicate()
    sampler.stop()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the poller and its (joined) workers
    poller_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    phases = json.loads(probe.read_text()) if probe.exists() else {}
    phases["load average"] = os.getloadavg()[0]
    lines = err.decode(errors="replace").strip().splitlines()
    return {"label": label, "seconds": seconds, "calls": emu.calls(), "rss_mb": sampler.root_rss / 2**20,
            "pss_mb": sampler.pss / 2**20, "poller_cpu": poller_cpu, "emulator_cpu": emu.cpu() - emu_cpu,
            "phases": phases, "exit": proc.returncode, "summary": lines[-1] if lines else ""}


def print_row(row: dict[str, Any]) -> None:
    phases = row["phases"]
    order = ("import cli", "http", "pager read", "decode here", "hash here", "wait for workers", "merge", "listing loop", "commit")
    parts = [f"{name} {phases[name]:.2f}" for name in order if phases.get(name)]
    accounted = sum(phases.get(name, 0.0) for name in order if name != "listing loop")
    if phases.get("listing loop"):  # the loop contains http, pager read and in-process hashing
        accounted = phases.get("import cli", 0.0) + phases["listing loop"] + phases.get("commit", 0.0)
    parts.append(f"other {max(0.0, row['seconds'] - accounted):.2f}")
    print(f"  {row['label']:<34} {row['seconds']:7.2f} s  {row['calls']:5d} API calls  peak RSS "
          f"{row['rss_mb']:5.0f} MB (main), PSS {row['pss_mb']:5.0f} MB (with workers)  exit {row['exit']}",
          flush=True)
    print(f"      main process: {', '.join(parts)} s", flush=True)
    print(f"      CPU: poller {row['poller_cpu']:.2f} s (main and workers), emulator {row['emulator_cpu']:.2f} s; "
          f"load average after the run {phases['load average']:.1f}", flush=True)
    if row["exit"]:
        print(f"      {row['summary']}", flush=True)


def baseline_hashes(config: Path) -> dict[str, int]:
    """key -> hash of the live baseline entities a run left."""
    with sqlite3.connect(config.parent / "baseline.db") as db:
        return dict(db.execute("SELECT key, hash FROM poller_entities WHERE deleted_at IS NULL"))


def bench_cloud(cloud: str, count: int, variants: list[tuple[str, Path, str]], work: Path, repeat: int) -> None:
    """First load and idle re-poll for each (label, tree, workers) variant against one emulator."""
    t0 = time.perf_counter()
    emu = Emulator(cloud, count)
    print(f"{cloud}: {count:,} {TYPES[cloud]} (emulator seeded in {time.perf_counter() - t0:.0f} s, own process)",
          flush=True)
    hashes: dict[str, dict[str, int]] = {}
    idle: dict[str, float] = {}
    try:
        for label, tree, workers in variants:
            run_dir = work / f"{cloud}-{label}-{workers}".replace("/", "_")
            run_dir.mkdir(parents=True)
            config = write_config(run_dir, cloud, emu.options, workers)
            name = f"{label}, hash_workers {workers}"
            print_row(run_snapshot(tree, config, emu, f"{name}: first load"))
            seconds = []
            for n in range(repeat):
                row = run_snapshot(tree, config, emu, f"{name}: idle re-poll" + (f" {n + 1}" if repeat > 1 else ""))
                print_row(row)
                seconds.append(row["seconds"])
            idle[name] = statistics.median(seconds)
            hashes[name] = baseline_hashes(config)
    finally:
        emu.stop()
    names = list(idle)
    for name in names[1:]:
        print(f"  idle re-poll (median of {repeat}) {names[0]} / {name}: {idle[names[0]]:.2f} s / {idle[name]:.2f} s = "
              f"{idle[names[0]] / idle[name]:.2f}x", flush=True)
    first = hashes[names[0]]
    for name in names[1:]:
        same = hashes[name] == first
        print(f"  baseline of {name} vs {names[0]}: {len(hashes[name]):,} vs {len(first):,} entities, "
              f"{'identical key -> hash' if same else 'DIFFERENT hashes'}", flush=True)


# -- the probe: runs inside the poller process -------------------------------------------------------
def probe(out: Path, argv: list[str]) -> None:
    """Run the CLI in this process with per-page timers around the main phases; write them to ``out``."""
    totals: dict[str, float] = {}
    started = time.perf_counter()
    main_pid = os.getpid()

    def timed(owner: Any, attr: str, phase: str, subtract: tuple[str, ...] = ()) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            before = sum(totals.get(s, 0.0) for s in subtract)
            try:
                return original(*args, **kwargs)
            finally:
                if os.getpid() == main_pid:
                    inner = sum(totals.get(s, 0.0) for s in subtract) - before
                    totals[phase] = totals.get(phase, 0.0) + time.perf_counter() - t - inner

        setattr(owner, attr, wrapper)

    import cli

    totals["import cli"] = time.perf_counter() - started
    import poller.run.commit as commit
    from collectors.cloudstack import client as cs_client
    from collectors.openstack import client as os_client

    # The clients imported summarize by name: wrap their references too.
    if hasattr(os_client, "summarize"):
        timed(os_client, "summarize", "pager read")
    if hasattr(cs_client, "summarize"):
        timed(cs_client, "summarize", "pager read")
    if hasattr(os_client.OpenStackClient, "get_raw"):
        timed(os_client.OpenStackClient, "get_raw", "http")
    else:  # before the RawPage change: the GET and its JSON parse
        timed(os_client.OpenStackClient, "get", "http")
    if hasattr(cs_client.CloudStackClient, "_call_raw"):
        timed(cs_client.CloudStackClient, "_call_raw", "http", subtract=("pager read",))
    else:
        timed(cs_client.CloudStackClient, "_call", "http")
    import poller.run.scan as scan

    # (not an import test: the editable install's finder would find this checkout's module)
    if not (Path(scan.__file__).parent / "workers.py").exists():
        # before the hash pool: one loop lists, parses, maps, hashes and compares
        timed(scan, "_hash_and_compare", "listing loop")
    else:
        import poller.run.hashing as hashing
        import poller.run.workers as workers

        timed(hashing, "hash_items", "hash here")  # called by hash_page: its decode is what remains
        timed(workers, "hash_page", "decode here", subtract=("hash here",))
        timed(workers, "hash_items", "hash here")
        timed(workers.HashPool, "_take", "wait for workers")
        timed(scan._Merge, "take", "merge", subtract=("wait for workers", "hash here", "decode here"))
        nice = int(os.environ.get("BENCH_API_WORKER_NICE", "0"))
        if nice:  # an experiment: workers below the main process (and the emulator) in the scheduler
            initializer = workers._set_job

            def set_job(job: Any) -> None:
                os.nice(nice)
                initializer(job)

            workers._set_job = set_job
        procs = int(os.environ.get("BENCH_API_POOL_PROCS", "0"))
        if procs:  # an experiment: fewer worker processes than hash_workers (the main one hashes nothing)
            executor = workers.ProcessPoolExecutor
            workers.ProcessPoolExecutor = lambda _n, **kwargs: executor(procs, **kwargs)
    timed(commit, "commit", "commit")

    def dump() -> None:
        out.write_text(json.dumps(totals))

    atexit.register(dump)
    sys.argv = ["poller", *argv]
    cli.main()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        probe(Path(sys.argv[2]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=100_000, help="OpenStack servers")
    parser.add_argument("--vms", type=int, default=100_000, help="CloudStack VMs")
    parser.add_argument("--clouds", default="openstack,cloudstack")
    parser.add_argument("--workers", default="1,all",
                        help="comma-separated service.hash_workers values for this tree (all: one per core)")
    parser.add_argument("--tree", default=None, help="also run another checkout (e.g. the commit before)")
    parser.add_argument("--tree-label", default="before")
    parser.add_argument("--repeat", type=int, default=1, help="idle re-polls per variant (the ratio uses the median)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="poller-bench-api-"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {sys.version.split()[0]}; tree {commit}", flush=True)
    variants: list[tuple[str, Path, str]] = []
    if args.tree:
        variants.append((args.tree_label, Path(args.tree).resolve(), "all"))
    variants += [(commit or "this tree", ROOT, w.strip()) for w in args.workers.split(",") if w.strip()]
    try:
        for cloud in [c.strip() for c in args.clouds.split(",") if c.strip()]:
            bench_cloud(cloud, args.servers if cloud == "openstack" else args.vms, variants, work, max(1, args.repeat))
    finally:
        if not args.workdir:  # its baselines: ~2.5 GB at 100,000 per cloud and variant
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
