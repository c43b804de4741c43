"""End to end: ``cli.py snapshot`` polls a libvirt test-driver source three times through the real pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import DATA, Node
from .test_listing import CACHE1, WEB1

ROOT = Path(__file__).resolve().parents[3]


def snapshot(config: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``cli.py --config CONFIG snapshot --format jsonl --exit-code``; return exit code, notifications, stderr."""
    result = subprocess.run(
        [sys.executable, "cli.py", "--config", str(config), "snapshot", "--format", "jsonl", "--exit-code"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr


class TestSnapshotCli:
    def test_idle_then_changed_node(self, tmp_path: Path) -> None:
        """First poll creates, an idle poll emits nothing, a rewrite emits exactly the update and the delete."""
        shutil.copyfile(DATA / "node.xml", tmp_path / "node.xml")
        node = Node(tmp_path / "node.xml")
        config = tmp_path / "poller.yaml"
        config.write_text(
            f'baseline: {{url: "sqlite:///{tmp_path / "baseline.db"}"}}\n'
            "sources:\n"
            "  - name: lv1\n"
            "    collector: libvirt\n"
            f'    options: {{uri: "{node.uri}"}}\n'
        )

        code, first, stderr = snapshot(config)
        assert code == 3, stderr
        created = {(n["entity_type"], n["key"]) for n in first if n["action"] == "create"}
        assert ("libvirt.domain", WEB1) in created and ("libvirt.domain", CACHE1) in created
        assert all(n["initial"] for n in first)

        code, idle, stderr = snapshot(config)
        assert (code, idle) == (0, []), stderr

        node.replace('<memory unit="KiB">1048576</memory>', '<memory unit="KiB">2097152</memory>')
        node.replace("<allocation>2147483648</allocation>", "<allocation>4294967296</allocation>")  # runtime only
        text = node.path.read_text()
        start = text.index('  <domain type="test">\n    <name>cache1</name>')
        node.path.write_text(text[:start] + text[text.index("</domain>", start) + len("</domain>\n") :])

        code, changed, stderr = snapshot(config)
        assert code == 3, stderr
        actions = sorted((n["action"], n["key"]) for n in changed)
        assert actions == sorted([("update", WEB1), ("delete", CACHE1)])
        (update,) = [n for n in changed if n["action"] == "update"]
        assert {"path": "/definition/memory/#text", "old": "1048576", "new": "2097152"} in update["changes"]
