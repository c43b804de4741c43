"""The CLI basics as a person meets them: --version, --format json, one-line errors with
the right exit codes, check-config reporting everything, secrets asked only of sources that run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_cli import poller


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A poller.yaml with one static source, and a disabled OpenStack source whose password is unset."""
    (tmp_path / "inv.jsonl").write_text('{"type":"vm","key":"a","name":"alpha"}\n')
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        "sources:\n"
        f"  - {{name: inv, collector: static, interval: 1h30m, options: {{path: '{tmp_path}/inv.jsonl'}}}}\n"
        "  - name: lab\n"
        "    collector: openstack\n"
        "    enabled: false\n"
        "    options: {auth: {auth_url: 'http://127.0.0.1:9/v3', username: u, password: '${LAB_OS_PASSWORD}'}}\n"
    )
    return tmp_path


def test_version(tmp_path: Path) -> None:
    """--version prints the program and the installed version, exit 0."""
    result = poller("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("poller (cloud-poller) 0.")


class TestJsonFormat:
    """--format json on the listing commands gives typed records."""

    def test_sources_json(self, workdir: Path) -> None:
        """sources --format json: one record per source, with the last run and the schedule."""
        assert poller("snapshot", cwd=workdir).returncode == 0
        records = json.loads(poller("sources", "--format", "json", cwd=workdir).stdout)
        assert [r["source"] for r in records] == ["inv", "lab"]
        assert records[0]["status"] == "ok" and records[0]["entities"] == 1 and records[0]["interval_s"] == 5400
        assert records[0]["schedule"] == "every 1h30m" and records[1]["last_run"] is None

    def test_baseline_show_json(self, workdir: Path) -> None:
        """baseline show --format json: counts per source and type."""
        poller("snapshot", cwd=workdir)
        records = json.loads(poller("baseline", "show", "--format", "json", cwd=workdir).stdout)
        assert records == [{"source": "inv", "type": "vm", "entities": 1, "epoch": records[0]["epoch"]}]

    def test_collectors_json(self, tmp_path: Path) -> None:
        """collectors --format json lists the built-in collectors and their types."""
        records = {r["collector"]: r for r in json.loads(poller("collectors", "--format", "json", cwd=tmp_path).stdout)}
        assert records["static"]["dynamic_types"] is True and "compute.server" in records["openstack"]["entity_types"]


class TestSecretsOnlyForSourcesThatRun:
    """A disabled source's ${ENV} is not demanded by commands that do not run it."""

    def test_read_only_commands_need_no_secret(self, workdir: Path) -> None:
        """S05: snapshot, sources, diff, history, show, baseline show/export and check-config work without LAB_OS_PASSWORD."""
        for args in (("snapshot",), ("sources",), ("diff",), ("history", "vm/a"), ("show", "vm/a"), ("baseline", "show"),
                     ("baseline", "export"), ("check-config",)):
            result = poller(*args, cwd=workdir)
            assert result.returncode == 0, (args, result.stderr)
        assert "lab: collector openstack, disabled (not checked)" in poller("check-config", cwd=workdir).stdout

    def test_running_the_source_demands_it(self, workdir: Path) -> None:
        """S05: running the disabled source by name names the unset variable (not its value), exit 2."""
        result = poller("snapshot", "--source", "lab", cwd=workdir)
        assert result.returncode == 2
        assert "sources.lab.options.auth.password needs the environment variable LAB_OS_PASSWORD" in result.stderr


class TestCheckConfig:
    """check-config reports every problem it finds, each on a line, exit 2."""

    def test_every_problem_is_reported(self, tmp_path: Path) -> None:
        """B09: key errors, a bad duration, an unknown collector (option), a missing static file and a bad baseline.url."""
        (tmp_path / "poller.yaml").write_text(
            "baseline: {url: 'mysql://u:pw@127.0.0.1/db'}\n"
            "service: {stop_timeout: soonish}\n"
            "sources:\n"
            "  - {name: a, collector: static, intervall: 5, options: {path: /nonexistent/inv.jsonl}}\n"
            "  - {name: b, collector: openstack, options: {cloud: x, regoin: y}}\n"
            "  - {name: c, collector: nope}\n"
        )
        result = poller("check-config", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("poller: error: ")]
        assert len(errors) == 6, result.stderr
        text = "\n".join(errors)
        for expected in ("sources.a.intervall: unknown key", "service.stop_timeout: must be a duration like",
                         "sources.a.options.path: /nonexistent/inv.jsonl: no such file", "sources.b.options.regoin: unknown option",
                         "unknown collector 'nope'", "needs the database driver 'MySQLdb'"):
            assert expected in text, expected
        assert "pw" not in result.stderr.replace("poller.yaml", "")
        assert "Traceback" not in result.stderr

    def test_valid_config(self, workdir: Path) -> None:
        """A valid config says so and exits 0."""
        result = poller("check-config", cwd=workdir)
        assert result.returncode == 0 and "configuration is valid" in result.stdout


class TestErrors:
    """Errors are one line with the right exit code."""

    def test_serve_checks_collector_options_first(self, workdir: Path) -> None:
        """`poller serve` refuses a wrong option of an enabled source before listening, exit 2."""
        text = (workdir / "poller.yaml").read_text().replace("enabled: false", "enabled: true")
        (workdir / "poller.yaml").write_text(text.replace("username: u", "username: u, regoin: x"))
        result = poller("serve", cwd=workdir, env={"LAB_OS_PASSWORD": "pw"})
        assert result.returncode == 2 and "regoin" in result.stderr and "serving" not in result.stderr

    def test_bad_collector_option_fails_before_any_source_runs(self, workdir: Path) -> None:
        """B09: an unknown OpenStack option is exit 2 and the valid static source is not run either."""
        text = (workdir / "poller.yaml").read_text().replace("enabled: false", "enabled: true")
        text = text.replace("username: u", "username: u, regoin: x")
        (workdir / "poller.yaml").write_text(text)
        result = poller("snapshot", cwd=workdir, env={"LAB_OS_PASSWORD": "pw"})
        assert result.returncode == 2, result.stderr
        assert "sources.lab.options.auth.regoin" in result.stderr or "regoin" in result.stderr
        assert "inv: ok" not in result.stderr and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1

    def test_missing_database_driver_names_the_extra(self, workdir: Path, tmp_path: Path) -> None:
        """A postgresql:// URL without psycopg importable names the extra to install, exit 2.

        psycopg is installed here, so a stub package that fails to import stands in for its absence.
        """
        stub = tmp_path / "stub" / "psycopg"
        stub.mkdir(parents=True)
        (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
        (workdir / "poller.yaml").write_text("baseline: {url: 'postgresql://u:pw@127.0.0.1/db'}\n")
        (workdir / "poller.yaml").chmod(0o600)  # else S05's warning about an inline password is a second line
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(stub.parent), os.environ.get("PYTHONPATH", "")]))}
        result = poller("sources", cwd=workdir, env=env)
        assert result.returncode == 2, result.stderr
        assert "pip install 'cloud-poller[postgres]'" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    def test_usage_error_is_one_line(self, workdir: Path) -> None:
        """An unknown option is exit 2 and one line pointing at -h."""
        result = poller("sources", "--bogus", cwd=workdir)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "poller sources -h" in result.stderr

    def test_several_config_problems_in_one_line(self, workdir: Path) -> None:
        """Outside check-config, several problems are one line: the first and a count."""
        (workdir / "poller.yaml").write_text("sources: [{name: a, collector: noop, intervall: 5, jitter: x}]\n")
        result = poller("sources", cwd=workdir)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert "(and 1 more problem: run `poller check-config`)" in result.stderr


class TestProgress:
    """snapshot's progress: phases on a terminal's stderr, nothing when piped."""

    def test_phases_on_a_terminal(self, workdir: Path) -> None:
        """With stderr on a pseudo-terminal, the listing, comparing, committing and delivering phases are drawn."""
        import pty
        import shutil
        import subprocess

        lines_ = "".join(f'{{"type":"vm","key":"k{i}","name":"n{i}"}}\n' for i in range(300))
        (workdir / "inv.jsonl").write_text(lines_)
        master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
        proc = subprocess.run([shutil.which("poller") or "poller", "snapshot"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=slave, timeout=120)
        os.close(slave)
        seen = b""
        try:
            while chunk := os.read(master, 65536):
                seen += chunk
        except OSError:  # EIO: the terminal's other end is closed and drained
            pass
        os.close(master)
        text = seen.decode(errors="replace")
        assert proc.returncode == 0, text
        for phase in ("inv: listing vm", "inv: comparing", "inv: committing", "inv: delivering"):
            assert phase in text, text
        assert "\r\x1b[K" in text and "inv: ok, 300 listed" in text

    def test_nothing_when_piped(self, workdir: Path) -> None:
        """With stderr piped, only the summary line is written: no phases, no escape codes."""
        result = poller("snapshot", cwd=workdir)
        assert result.returncode == 0 and "listing" not in result.stderr and "\x1b" not in result.stderr


@pytest.mark.slow
def test_demo_prints_each_table_once_and_its_commands_work(tmp_path: Path) -> None:
    """`poller demo` prints the change table once, and every command it suggests exits 0 when run as printed."""
    import shlex

    result = poller("demo", "--workdir", str(tmp_path / "demo dir"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.count("TIME (UTC)") == 1 and result.stdout.count("db-1") >= 1
    suggested = result.stdout.split("== try next", 1)[1].splitlines()[1:]
    commands = [shlex.split(line) for line in suggested if line.strip().startswith("poller ")]
    assert len(commands) >= 5
    for argv in commands:
        assert argv[0] == "poller"
        ran = poller(*argv[1:], cwd=tmp_path)
        assert ran.returncode == 0, (argv, ran.stderr)
        assert "Traceback" not in ran.stderr
    assert (tmp_path / "demo dir" / "report.html").exists()


class TestCompletion:
    """Shell completion through click's _POLLER_COMPLETE protocol."""

    def test_bash_script(self, tmp_path: Path) -> None:
        """`_POLLER_COMPLETE=bash_source poller` prints the bash completion function."""
        result = poller(cwd=tmp_path, env={"_POLLER_COMPLETE": "bash_source"})
        assert result.returncode == 0 and "_poller_completion()" in result.stdout

    @pytest.mark.parametrize("words", ["poller snapshot --source ", "poller diff --source ", "poller baseline show --source "])
    def test_source_names_complete(self, workdir: Path, words: str) -> None:
        """--source completes the configured source names."""
        env = {"_POLLER_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))}
        result = poller(cwd=workdir, env=env)
        assert result.returncode == 0 and result.stdout.split() == ["plain,inv", "plain,lab"]

    def test_nothing_on_a_broken_config(self, tmp_path: Path) -> None:
        """A config that does not load completes nothing and prints no error into the shell."""
        (tmp_path / "poller.yaml").write_text("sources: [\n")
        env = {"_POLLER_COMPLETE": "bash_complete", "COMP_WORDS": "poller snapshot --source ", "COMP_CWORD": "3"}
        result = poller(cwd=tmp_path, env=env)
        assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr == ""
