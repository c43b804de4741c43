"""End to end: ``cli.py snapshot`` polls the CloudStack emulator through the real pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collectors.cloudstack.emulator import CloudStackEmulator
from tests.collectors.cloudstack.test_listing import EXPECTED_COUNTS

ROOT = Path(__file__).resolve().parents[3]


def snapshot(config: Path, emulator: CloudStackEmulator) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``cli.py --config CONFIG snapshot --format jsonl --exit-code`` with the keys in the environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CS_API_KEY": emulator.api_key, "CS_SECRET_KEY": emulator.secret_key}
    result = subprocess.run(
        [sys.executable, "cli.py", "--config", str(config), "snapshot", "--format", "jsonl", "--exit-code"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr


class TestSnapshotCli:
    @pytest.mark.slow
    def test_idle_cloud_is_silent_and_a_change_is_one_update(self, tmp_path: Path) -> None:
        """First poll creates; moving counters emit nothing; a rename is one update; the demo's changes show."""
        with CloudStackEmulator() as emulator:
            emulator.seed_demo()
            config = tmp_path / "poller.yaml"
            config.write_text(
                f'baseline: {{url: "sqlite:///{tmp_path / "baseline.db"}"}}\n'
                "sources:\n"
                "  - name: cs1\n"
                "    collector: cloudstack\n"
                f'    options: {{endpoint: "{emulator.endpoint}", api_key: "${{CS_API_KEY}}", '
                'secret_key: "${CS_SECRET_KEY}", page_size: 4}\n'
            )
            code, first, stderr = snapshot(config, emulator)
            assert code == 3, stderr
            created = {(n["entity_type"], n["key"]) for n in first if n["action"] == "create"}
            assert len(created) == sum(EXPECTED_COUNTS.values())

            emulator.tick(3)
            code, idle, stderr = snapshot(config, emulator)
            assert (code, idle) == (0, []), stderr

            vm = emulator.demo.vms[0]
            emulator.inventory.update("virtualmachine", vm["id"], displayname="web-renamed")
            code, changed, stderr = snapshot(config, emulator)
            assert code == 3, stderr
            assert [(n["action"], n["key"], n["name"]) for n in changed] == [("update", vm["id"], "web-renamed")]
            assert {"path": "/displayname", "old": "vm-001", "new": "web-renamed"} in changed[0]["changes"]

            ids = emulator.apply_demo_changes()
            code, demo, stderr = snapshot(config, emulator)
            assert code == 3, stderr
            vm_actions = {(n["action"], n["key"]) for n in demo if n["entity_type"] == "cloudstack.virtualmachine"}
            assert vm_actions == {("create", ids["deployed"]), ("update", ids["stopped"]), ("delete", ids["destroyed"])}
            assert ("update", ids["attached"]) in {(n["action"], n["key"]) for n in demo}

            outputs = json.dumps(first + idle + changed + demo) + stderr
            assert emulator.api_key not in outputs and emulator.secret_key not in outputs
