"""Benchmark: snapshots of N OpenStack-server-shaped entities through the real CLI.

    python bench/snapshot.py --entities 1000000 --change 0.01 [--backend sqlite|postgresql|both]

Writes a JSON Lines inventory of N entities (~1.6 KB each), runs `poller snapshot`
(first load, then with `--change` of them changed plus 0.1% created and 0.1% deleted,
then with nothing changed), and prints seconds, entities/s and peak RSS of each run:
of the poller process and, on PostgreSQL, of the server's backends serving it.
`--compare` also computes the same change set at --compare-entities (default 100,000)
the ways a user might otherwise do it (DiffSync models; whole JSON documents compared
in SQLite) and prints their time as ratios against cloud-poller's second snapshot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inventory import write  # noqa: E402


class PeakRSS:
    """Samples the summed RSS of a process tree (and extra pids) every 50 ms."""

    def __init__(self, root: int, extra: Any = None) -> None:
        self.root, self.extra, self.peak, self.peak_extra = root, extra, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                proc = psutil.Process(self.root)
                rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
                self.peak = max(self.peak, rss)
                if self.extra is not None:
                    self.peak_extra = max(self.peak_extra, self.extra())
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def pg_backends_rss(admin_url: str, dbname: str) -> Any:
    """A function summing the private RSS (USS where available) of PostgreSQL backends of ``dbname``."""
    import psycopg

    conn = psycopg.connect(admin_url.replace("postgresql+psycopg", "postgresql"), autocommit=True)

    def measure() -> int:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))]
        total = 0
        for pid in pids:
            try:
                info = psutil.Process(pid).memory_full_info()
                total += getattr(info, "uss", info.rss)
            except psutil.Error:
                pass
        return total

    return measure


def settle_postgres(admin_url: str, dbname: str) -> float:
    """Let PostgreSQL finish the background work a previous bulk load left (autovacuum of the
    new tables, a checkpoint), so a phase measures the poller and not that catch-up."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(admin_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        for _ in range(240):
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'autovacuum:%%'",
                                (dbname,)).fetchone()[0]
            if not busy:
                break
            time.sleep(0.5)
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def run_snapshot(config: Path, label: str, n: int, pg: tuple[str, str] | None) -> dict[str, Any]:
    """Run `poller snapshot` once; returns seconds and peak memory."""
    if pg:
        waited = settle_postgres(*pg)
        if waited > 1:
            print(f"    (waited {waited:.1f} s for PostgreSQL's autovacuum and a checkpoint before this run)", flush=True)
    exe = shutil.which("poller") or sys.executable
    args = [exe] if exe.endswith("poller") else [exe, str(Path(__file__).resolve().parents[1] / "cli.py")]
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen([*args, "--config", str(config), "snapshot", "--format", "jsonl"], stdout=devnull, stderr=subprocess.PIPE)
        sampler = PeakRSS(proc.pid, pg_backends_rss(*pg) if pg else None)
        _, err = proc.communicate()
        sampler.stop()
    seconds = time.perf_counter() - started
    summary = err.decode().strip().splitlines()[-1] if err.strip() else ""
    row = {"run": label, "seconds": seconds, "entities_per_s": n / seconds, "poller_rss_mb": sampler.peak / 2**20,
           "pg_backend_mb": sampler.peak_extra / 2**20, "summary": summary, "exit": proc.returncode}
    print(f"  {label:<22} {seconds:7.2f} s  {n / seconds:10,.0f} entities/s  peak RSS poller {sampler.peak / 2**20:6.0f} MB"
          + (f" + PostgreSQL backends {sampler.peak_extra / 2**20:5.0f} MB" if pg else "") + f"  [{summary}]", flush=True)
    return row


def bench_backend(backend: str, n: int, change: float, work: Path, pg_admin: str | None) -> list[dict[str, Any]]:
    """Three snapshots (first load, changed, unchanged) on one backend."""
    pg = None
    if backend == "sqlite":
        for stale in work.glob("baseline.db*"):
            stale.unlink()
        url = f"sqlite:///{work / 'baseline.db'}"
    else:
        assert pg_admin, "--pg-url or POLLER_TEST_PG_URL is required for postgresql"
        import sqlalchemy as sa

        dbname = f"poller_bench_{os.getpid()}"
        engine = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {dbname}")
        url = str(sa.engine.make_url(pg_admin).set(database=dbname).render_as_string(hide_password=False))
        pg = (pg_admin, dbname)
    inventory = work / "inventory.jsonl"
    config = work / "poller.yaml"
    config.write_text(
        f"baseline: {{url: '{url}'}}\n"
        f"sources: [{{name: bench, collector: static, options: {{path: '{inventory}', types: [compute.server]}}}}]\n"
    )
    print(f"{backend}: N={n:,}", flush=True)
    rows = []
    write(inventory, n)
    rows.append(run_snapshot(config, "first (all created)", n, pg))
    counts = write(inventory, n, change=change, created=0.001, deleted=0.001)
    rows.append(run_snapshot(config, f"second ({change:.0%} changed)", n, pg))
    print(f"    changed {counts['changed']:,}, created {counts['created']:,}, deleted {counts['deleted']:,}")
    rows.append(run_snapshot(config, "third (nothing changed)", n, pg))
    if pg:
        import sqlalchemy as sa

        engine = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {pg[1]} WITH (FORCE)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("POLLER_TEST_PG_URL"))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--compare", action="store_true", help="also time DiffSync and JSON-in-database diffs")
    parser.add_argument("--compare-entities", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="poller-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; python {sys.version.split()[0]}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        (work / backend).mkdir(exist_ok=True)
        bench_backend(backend, args.entities, args.change, work / backend, args.pg_url)
    if args.compare:
        from compare import compare

        compare(args.compare_entities, args.change, work / "compare")


if __name__ == "__main__":
    main()
