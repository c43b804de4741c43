"""Report output cannot be steered: odd source names, planted symlinks, file modes (S07)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_delivery_crash import poller_cmd


def poller(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*poller_cmd(), "--config", str(config), *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A baseline with one snapshot of a two-entity static source."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text("".join(json.dumps({"type": "vm", "key": k}) + "\n" for k in ("a", "b")))
    path = tmp_path / "poller.yaml"
    path.write_text(f"baseline: {{url: 'sqlite:///{tmp_path / 'b.db'}'}}\n"
                    f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n")
    assert poller(path, "snapshot").returncode in (0, 3)
    return path


class TestReportPaths:
    def test_S07_source_name_with_path_characters_is_refused(self, tmp_path: Path) -> None:
        """S07: a source named ../../etc/cron.d/x is a configuration error (exit 2), so no name reaches a path."""
        path = tmp_path / "poller.yaml"
        path.write_text("sources: [{name: ../../etc/cron.d/x, collector: noop}]\n")
        result = poller(path, "check-config")
        assert result.returncode == 2 and "sources[0].name" in result.stderr

    def test_S07_planted_symlink_is_replaced_not_followed(self, config: Path, tmp_path: Path) -> None:
        """S07: -o naming a symlink to another file replaces the link; the file it pointed to is untouched."""
        victim = tmp_path / "victim.txt"
        victim.write_text("precious")
        link = tmp_path / "report.html"
        link.symlink_to(victim)
        result = poller(config, "diff", "--format", "html", "-o", str(link))
        assert result.returncode == 0, result.stderr
        assert victim.read_text() == "precious"
        assert not link.is_symlink() and "<html" in link.read_text().lower()

    def test_S07_new_report_is_not_world_readable(self, config: Path, tmp_path: Path) -> None:
        """S07: a new report file is created 0640 (less the umask), never world-readable; no temp file is left."""
        out = tmp_path / "reports" / "r.md"
        out.parent.mkdir()
        result = subprocess.run([*poller_cmd(), "--config", str(config), "diff", "--format", "markdown", "-o", str(out)],
                                capture_output=True, text=True, timeout=120, check=False,
                                preexec_fn=lambda: os.umask(0o022))
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
        assert [p.name for p in out.parent.iterdir()] == ["r.md"]
