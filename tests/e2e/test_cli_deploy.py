"""The deployment files as an operator installs them: the cron wrapper (secrets from a file,
exit code kept) and the systemd unit (Type=notify, watchdog, where pip puts poller, hardening)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "etc" / "poller-cron"
UNIT = ROOT / "etc" / "poller.service"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A config whose static source's path is a ${SECRET}-like variable, and an env file setting it."""
    inventory = tmp_path / "inv dir" / "inv.jsonl"
    inventory.parent.mkdir()
    inventory.write_text('{"type":"vm","key":"a","name":"alpha"}\n')
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "sources: [{name: inv, collector: static, options: {path: '${INV_PATH}'}}]\n"
    )
    (tmp_path / "poller.env").write_text(
        "# secrets\n\nINV_PATH='" + str(inventory) + "'\nODD_SECRET=\"pa$$ word\"\nnot a variable line\n"
    )
    return tmp_path


def cron(site: Path, *args: str, env_file: str = "poller.env") -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the wrapper with /bin/sh as cron would; the log command appends to a file instead of syslog."""
    env = {"PATH": os.environ["PATH"], "POLLER_CONFIG": str(site / "poller.yaml"),
           "POLLER_ENV_FILE": str(site / env_file), "POLLER": shutil.which("poller") or "poller",
           "POLLER_LOG_COMMAND": f"tee -a {site / 'syslog'}"}
    result = subprocess.run(["/bin/sh", str(WRAPPER), *args], cwd=site, env=env, capture_output=True, text=True, timeout=120)
    log = (site / "syslog").read_text() if (site / "syslog").exists() else ""
    return result, log


class TestCronWrapper:
    """etc/poller-cron."""

    def test_secrets_from_the_env_file(self, site: Path) -> None:
        """The env file's variables reach poller (the source runs), nothing reaches stdout, summaries reach the log."""
        result, log = cron(site)
        assert result.returncode == 0, log
        assert result.stdout == "" and "inv: ok, 1 listed, 1 created" in log
        assert "a line that is not NAME=value was skipped" in log and "pa$$" not in log

    def test_exit_code_is_kept(self, site: Path) -> None:
        """A failing source is exit 1 and --exit-code's 3 passes through, as poller returned them."""
        assert cron(site)[0].returncode == 0
        (site / "inv dir" / "inv.jsonl").write_text('{"type":"vm","key":"b","name":"beta"}\n')
        assert cron(site, "--exit-code")[0].returncode == 3
        (site / "inv dir" / "inv.jsonl").write_text("not json\n")
        result, log = cron(site)
        assert result.returncode == 1 and "poller snapshot exited 1" in log

    def test_missing_secret_is_a_configuration_error(self, site: Path) -> None:
        """Without the env file the source's ${INV_PATH} is unset: exit 2, named in the log."""
        result, log = cron(site, env_file="absent.env")
        assert result.returncode == 2 and "INV_PATH" in log

    def test_cron_line_runs_the_wrapper_as_poller(self) -> None:
        """etc/poller.cron runs the installed wrapper as user poller."""
        lines = [line for line in (ROOT / "etc" / "poller.cron").read_text().splitlines() if line and not line.startswith("#")]
        assert lines[-1].split()[5:] == ["poller", "/opt/cloud-poller/bin/poller-cron"]


class TestSystemdUnit:
    """etc/poller.service."""

    def settings(self) -> dict[str, list[str]]:
        """The unit's Key=value settings (a key may repeat)."""
        found: dict[str, list[str]] = {}
        for line in UNIT.read_text().splitlines():
            if "=" in line and not line.startswith(("#", "[")):
                key, value = line.split("=", 1)
                found.setdefault(key, []).append(value)
        return found

    def test_notify_and_watchdog(self) -> None:
        """Type=notify with a watchdog, ExecStart where the documented venv install puts poller."""
        s = self.settings()
        assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"] and s["WatchdogSec"] == ["60s"]
        assert s["ExecStart"] == ["/opt/cloud-poller/bin/poller --log-format json run"]
        service_md = (ROOT / "docs" / "service.md").read_text()
        assert "python3 -m venv /opt/cloud-poller" in service_md and "/opt/cloud-poller/bin/poller" in service_md

    def test_hardening_exposure_at_most_3(self) -> None:
        """`systemd-analyze security --offline=true` rates the unit's exposure at most 3.0."""
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            if IN_CI:
                pytest.fail("systemd-analyze is missing in CI")
            pytest.skip("systemd-analyze is not installed")
        result = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
                                capture_output=True, text=True, timeout=60)
        match = re.search(r"Overall exposure level for poller.service: ([0-9.]+)", result.stdout + result.stderr)
        assert match, result.stdout + result.stderr
        print(f"systemd-analyze security exposure: {match.group(1)}")
        assert float(match.group(1)) <= 3.0
