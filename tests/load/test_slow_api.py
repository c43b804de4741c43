"""L04: an API that answers every page slowly, so the listing outlasts the source's timeout.

Scaled down from the catalogue's 5 s x 2,000 pages: 0.4 s per page, 60 pages of Nova
servers, a 4 s timeout. The run must stop by itself at the timeout, fail the source without
deleting anything, and the next normal run must still find nothing to change.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from collectors.openstack.emulator import OpenStackEmulator
from tests.e2e.test_delivery_crash import poller_cmd

pytestmark = pytest.mark.slow
SERVERS_PATH = "/servers/detail"


def snapshot(config: Path) -> tuple[int, list[dict[str, object]], str, float]:
    started = time.monotonic()
    result = subprocess.run([*poller_cmd(), "--config", str(config), "snapshot", "--format", "jsonl"],
                            capture_output=True, text=True, timeout=300, check=False)
    notes = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.returncode, notes, result.stderr, time.monotonic() - started


def server_pages(emulator: OpenStackEmulator) -> int:
    return sum(1 for r in emulator.server.log if r.path.endswith(SERVERS_PATH))


def test_L04_slow_pages_past_the_timeout_fail_cleanly_and_delete_nothing(tmp_path: Path) -> None:
    """L04: with 0.4 s per page over 60 pages and a 4 s timeout, the run ends at its timeout
    instead of the end of the listing, fails the source, and no server is reported deleted."""
    with OpenStackEmulator() as emulator:
        emulator.seed_demo()
        emulator.seed_servers(295)
        options = emulator.source_options(page_size=5)
        config = tmp_path / "poller.yaml"
        config.write_text(
            f'baseline: {{url: "sqlite:///{tmp_path / "b.db"}"}}\n'
            "sources:\n"
            "  - name: os1\n"
            "    collector: openstack\n"
            "    timeout: 4s\n"
            "    entity_types: [compute.server]\n"
            f"    options: {json.dumps(options)}\n"
        )
        code, first, stderr, _ = snapshot(config)
        assert code == 0, stderr[-2000:]
        total_pages = server_pages(emulator)
        created = {n["key"] for n in first if n["action"] == "create"}
        assert len(created) >= 295
        emulator.inject(SERVERS_PATH, delay=0.4, times=None)
        before = server_pages(emulator)
        code, slow, stderr, seconds = snapshot(config)
        pages = server_pages(emulator) - before
        print(f"\nL04 slow listing: exit {code} after {seconds:.1f} s and {pages} of {total_pages} pages "
              f"(the whole listing would take ~{0.4 * total_pages:.0f} s)")
        assert code == 1 and slow == [], stderr[-2000:]
        assert "timeout" in stderr.lower()
        assert pages < total_pages, "the run stopped at its timeout, not at the end of the listing"
        emulator.clear_faults()
        code, after, stderr, _ = snapshot(config)
        assert (code, after) == (0, []), stderr[-2000:]
