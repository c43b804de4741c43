"""The installed ``poller`` CLI as a subprocess: exit codes, streams, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def poller(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``poller`` console script (the checkout's cli.py if it is not installed)."""
    full_env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
    full_env.update(env or {})
    installed = shutil.which("poller")
    exe = [installed] if installed else [sys.executable, str(ROOT / "cli.py")]
    return subprocess.run([*exe, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with a poller.yaml over a JSON Lines inventory and a jsonl sink."""
    (tmp_path / "inv.jsonl").write_text(
        '{"type":"vm","key":"a","name":"alpha","attributes":{"flavor":"small"}}\n'
        '{"type":"vm","key":"b","name":"beta","attributes":{"flavor":"small"}}\n'
    )
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"notify: {{sinks: [{{name: file, type: jsonl, path: '{tmp_path}/out.jsonl'}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{tmp_path}/inv.jsonl'}}}}]\n"
    )
    return tmp_path


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TestSnapshot:
    """`poller snapshot`: output, summary and exit codes."""

    def test_first_snapshot_prints_jsonl_and_summary(self, workdir: Path) -> None:
        """Piped stdout gets JSON lines; stderr gets a one-line summary per source."""
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert [n["action"] for n in lines(result.stdout)] == ["create", "create"]
        assert "inv: ok, 2 listed, 2 created" in result.stderr
        assert len(lines((workdir / "out.jsonl").read_text())) == 2

    def test_exit_code_3_on_changes(self, workdir: Path) -> None:
        """--exit-code makes found changes exit 3, and no changes exit 0."""
        poller("snapshot", cwd=workdir)
        assert poller("snapshot", "--exit-code", cwd=workdir).returncode == 0
        (workdir / "inv.jsonl").write_text('{"type":"vm","key":"a","name":"alpha","attributes":{"flavor":"big"}}\n'
                                           '{"type":"vm","key":"b","name":"beta","attributes":{"flavor":"small"}}\n')
        result = poller("snapshot", "--exit-code", "--format", "table", cwd=workdir)
        assert result.returncode == 3 and "/flavor: small -> big" in result.stdout

    def test_bad_line_exits_1_and_deletes_nothing(self, workdir: Path) -> None:
        """F01: A broken inventory line is a partial run: exit 1, the line named, nothing deleted."""
        poller("snapshot", cwd=workdir)
        (workdir / "inv.jsonl").write_text('{"type":"vm","key":"a","name":"alpha","attributes":{"flavor":"small"}}\n{oops\n')
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 1 and "inv.jsonl:2: not valid JSON" in result.stderr
        assert lines(result.stdout) == [] and "Traceback" not in result.stderr

    def test_dry_run_writes_nothing(self, workdir: Path) -> None:
        """--dry-run prints the changes and a second real run still sees them."""
        dry = poller("snapshot", "--dry-run", cwd=workdir)
        assert len(lines(dry.stdout)) == 2 and not (workdir / "out.jsonl").exists()
        assert len(lines(poller("snapshot", cwd=workdir).stdout)) == 2

    def test_config_error_exits_2_in_one_line(self, workdir: Path) -> None:
        """A bad config is exit 2 with one line naming file and key, no traceback."""
        (workdir / "poller.yaml").write_text("sources: [{name: a, collector: static, intervall: 5}]\n")
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0 and "poller.yaml: sources.a.intervall: unknown key" in result.stderr

    def test_unknown_collector_is_named(self, workdir: Path) -> None:
        """B09: An unknown collector is a configuration error (exit 2) naming it and the installed ones."""
        (workdir / "poller.yaml").write_text(f"baseline: {{url: 'sqlite:///{workdir}/b.db'}}\nsources: [{{name: a, collector: nope}}]\n")
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 2 and "unknown collector 'nope'" in result.stderr

    def test_unknown_source_is_usage_error(self, workdir: Path) -> None:
        """--source naming no configured source exits 2."""
        assert poller("snapshot", "--source", "zzz", cwd=workdir).returncode == 2

    def test_verbose_shows_traceback(self, workdir: Path) -> None:
        """-v adds the traceback that is otherwise hidden."""
        (workdir / "poller.yaml").write_text("sources: 5\n")
        assert "Traceback" in poller("-v", "snapshot", cwd=workdir).stderr


class TestReports:
    """`poller diff`, `baseline`, `sources`, `check-config`."""

    def test_diff_formats(self, workdir: Path) -> None:
        """diff renders json (an array), markdown and html, and writes -o files."""
        poller("snapshot", cwd=workdir)
        as_json = json.loads(poller("diff", "--format", "json", cwd=workdir).stdout)
        assert [n["key"] for n in as_json] == ["a", "b"]
        assert "| inv | vm | 2 |" in poller("diff", "--format", "markdown", cwd=workdir).stdout
        poller("diff", "--format", "html", "-o", str(workdir / "r.html"), cwd=workdir)
        assert "<table id='first-loads'>" in (workdir / "r.html").read_text()
        assert json.loads(poller("diff", "--run", "1", "--format", "json", cwd=workdir).stdout)
        assert poller("diff", "--since", "yesterday-ish", cwd=workdir).returncode == 2

    def test_baseline_export_import_reset(self, workdir: Path) -> None:
        """A baseline exported and imported back holds the same entities."""
        poller("snapshot", cwd=workdir)
        exported = poller("baseline", "export", cwd=workdir).stdout
        assert len(lines(exported)) == 2
        assert poller("baseline", "reset", "--yes", cwd=workdir).returncode == 0
        (workdir / "export.jsonl").write_text(exported)
        assert poller("baseline", "import", str(workdir / "export.jsonl"), cwd=workdir).returncode == 0
        assert re.search(r"^inv\s+vm\s+2\s", poller("baseline", "show", cwd=workdir).stdout, re.M)
        result = poller("snapshot", cwd=workdir)
        assert lines(result.stdout) == []

    def test_sources_and_check_config(self, workdir: Path) -> None:
        """sources shows the last run; check-config validates."""
        poller("snapshot", cwd=workdir)
        assert "ok" in poller("sources", cwd=workdir).stdout
        assert "configuration is valid" in poller("check-config", cwd=workdir).stdout


def test_third_party_plugin_is_listed(tmp_path: Path) -> None:
    """A plugin package installed from tests/ shows up in `poller collectors` with no change here."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(ROOT / "tests" / "plugin_example")],
        check=True, capture_output=True, timeout=300,
    )
    result = poller("collectors", cwd=tmp_path, env={"PYTHONPATH": str(target)})
    assert "example" in result.stdout and "example.thing" in result.stdout


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """`poller demo` polls the emulated clouds twice and reports only what changed."""
    result = poller("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "snapshot 2: only what changed" in result.stdout
    assert "demo-static: ok, 4 listed, 1 created, 2 updated, 1 deleted" in result.stdout
    assert (tmp_path / "demo" / "changes.jsonl").exists()


class TestNotificationsCommands:
    """`poller notifications status|replay` and the backlog pause."""

    def test_status_and_replay(self, workdir: Path) -> None:
        """status shows the jsonl sink's cursor; replay re-sends history with the same ids."""
        poller("snapshot", cwd=workdir)
        status = poller("notifications", "status", cwd=workdir)
        assert status.returncode == 0 and re.search(r"^file\s+jsonl\s+2\s+0\s", status.stdout, re.M), status.stdout
        first = lines((workdir / "out.jsonl").read_text())
        result = poller("notifications", "replay", "--sink", "file", "--since", "1h", cwd=workdir)
        assert result.returncode == 0 and "replayed 2" in result.stderr
        assert [n["id"] for n in lines((workdir / "out.jsonl").read_text())] == [n["id"] for n in first] * 2

    def test_backlog_over_limit_pauses_polling(self, workdir: Path) -> None:
        """F18: With a sink down and its backlog over notify.max_backlog, the source is paused (exit 1), nothing lost."""
        (workdir / "blocked").write_text("not a directory")
        (workdir / "poller.yaml").write_text(
            f"baseline: {{url: 'sqlite:///{workdir}/b.db'}}\n"
            f"notify: {{max_backlog: 1, sinks: [{{name: file, type: jsonl, path: '{workdir}/blocked/out.jsonl'}}]}}\n"
            f"sources: [{{name: inv, collector: static, options: {{path: '{workdir}/inv.jsonl'}}}}]\n"
        )
        assert poller("snapshot", cwd=workdir).returncode == 0
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 1 and "paused" in result.stderr and "max_backlog" in result.stderr
        (workdir / "blocked").unlink()
        assert poller("snapshot", cwd=workdir).returncode == 0
        assert len(lines((workdir / "blocked" / "out.jsonl").read_text())) == 2
