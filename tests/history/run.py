"""Run one history by hand: the workload on a private PostgreSQL cluster or a SQLite file, then the checker.

``python -m tests.history.run --minutes 10 --backend postgresql [--keep DIR]`` prints the
checker's summary and exits 1 when it found anomalies. Never touches the shared servers.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.history.checker import Report, check
from tests.history.workload import Plan, Workload, private_postgres_database
from tests.private_servers import PrivatePostgres


def history(directory: Path, backend: str, url: str, plan: Plan, restart: Callable[[], None] | None = None,
            say: Callable[[str], None] = print) -> Report:
    """Run the workload of ``plan`` on the baseline at ``url`` in ``directory``, check it, and describe the run."""
    commit = _commit()
    workload = Workload(directory, url, plan, restart_database=restart, say=say)
    workload.run()
    report = check(directory, url)
    report.counts = {
        "backend": backend,
        "commit": commit,
        "plan": (f"{plan.duration:.0f}s churn, {plan.nodes} nodes x {plan.workers} workers, "
                 f"{plan.small_sources} small sources of {plan.small_size}, {plan.bulk_sources} bulk of {plan.bulk_size}"),
        "hostnames": "own (unshare -u)" if workload.hostnames else "shared (not root: holders differ by pid)",
        "lease_ttl": f"{workload.lease_ttl:g}s" if workload.lease_ttl is not None else "not configurable (poller default)",
        **report.counts,
    }
    (directory / "summary.txt").write_text(report.summary() + "\n")
    return report


def restarter(cluster: PrivatePostgres) -> Callable[[], None]:
    """A crash and restart of the private cluster: ``pg_ctl stop -m immediate``, 2 s down, start."""

    def restart() -> None:
        cluster.stop("immediate")
        time.sleep(2)
        cluster.start()

    return restart


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


def main(argv: list[str]) -> int:
    """Parse the options, run one history, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m tests.history.run", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0, help="churn duration (default 1)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--bulk-size", type=int, default=None, help="entities per bulk load (default 4000, 20000 from 5 minutes)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", type=Path, default=None, help="run directory to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    bulk = args.bulk_size if args.bulk_size is not None else (20000 if args.minutes >= 5 else 4000)
    plan = Plan(duration=args.minutes * 60, nodes=args.nodes, workers=args.workers, bulk_sources=2 if args.minutes >= 5 else 1,
                bulk_size=bulk, seed=args.seed)
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            directory = args.keep
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="poller-history-")))
        if args.backend == "sqlite":
            report = history(directory, "sqlite", f"sqlite:///{directory / 'baseline.db'}", plan)
        else:
            cluster, url = stack.enter_context(private_postgres_database())
            report = history(directory, "postgresql", url, plan, restarter(cluster))
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
