"""Benchmark: `poller diff` over a first load of N entities plus a second snapshot.

    python bench/report.py --entities 100000 --change 0.01

Writes a JSON Lines inventory of N OpenStack-server-shaped entities (bench/inventory.py),
runs `poller snapshot` twice (first load; then `--change` of them changed, 0.1% created
and 0.1% deleted), then times `poller diff --format table|markdown|html|json -o FILE`
over the whole period and prints wall and CPU seconds, peak RSS of the diff process and file size.
First loads are folded (a count and at most 1,000 entities per type are kept), so the
folded formats' memory follows the real changes, not N; json streams every notification.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inventory import write  # noqa: E402
from memory import PeakMemory  # noqa: E402


def run(config: Path, *args: str) -> tuple[float, float, int]:
    """Run the installed poller; returns (wall seconds, CPU seconds, peak RSS in bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(["poller", "--config", str(config), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = PeakMemory(proc.pid)
    _, err = proc.communicate()
    peak.stop()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"poller {' '.join(args)} failed: {err.decode()[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, cpu, peak.pss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--change", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="poller-bench-report-") as tmp:
        work = Path(tmp)
        inv, config = work / "inv.jsonl", work / "poller.yaml"
        config.write_text(f"baseline: {{url: 'sqlite:///{work}/b.db'}}\n"
                          f"sources: [{{name: bench, collector: static, options: {{path: '{inv}'}}}}]\n")
        write(inv, args.entities)
        run(config, "snapshot", "--format", "jsonl")
        write(inv, args.entities, change=args.change, created=0.001, deleted=0.001)
        run(config, "snapshot", "--format", "jsonl")
        print(f"N = {args.entities:,}, {args.change:.1%} changed (+0.1% created, 0.1% deleted), SQLite")
        print("| format | wall s | CPU s | peak RSS | file |\n|---|--:|--:|--:|--:|")
        for fmt in ("table", "markdown", "html", "json"):
            out = work / f"report.{fmt}"
            seconds, cpu, rss = run(config, "diff", "--since", "1d", "--format", fmt, "-o", str(out))
            print(f"| {fmt} | {seconds:.2f} | {cpu:.2f} | {rss / 2**20:.0f} MB | {out.stat().st_size / 2**20:.1f} MB |")


if __name__ == "__main__":
    main()
