"""Every command of the installed CLI, walked with wrong input: an unknown option, a bad
value, an unwritable -o, a broken config. Each must answer in one line on stderr with no
traceback, exit 2 (usage or configuration). New commands are walked without changes here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest

import cli
from tests.e2e.test_cli import poller

# Arguments that get a command past click's own checks (required options, arguments).
MINIMAL = {
    "history": ["vm/a"],
    "show": ["vm/a"],
    "notifications replay": ["--sink", "file", "--since", "1h"],
    "baseline import": ["{workdir}/export.jsonl"],
    "baseline reset": ["--yes"],
}
# Commands that never read the configuration.
NO_CONFIG = {"demo"}


def commands(group: click.Group = cli.main, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command, with its path of names."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def minimal(path: tuple[str, ...], workdir: Path) -> list[str]:
    """The command's path and the arguments it requires."""
    return [*path, *(a.format(workdir=workdir) for a in MINIMAL.get(" ".join(path), []))]


def bad_values(command: click.Command) -> Iterator[list[str]]:
    """A wrong value for each option that checks its values (choices, numbers, durations, paths)."""
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag or not param.opts[-1].startswith("--"):
            continue
        flag = param.opts[-1]
        if isinstance(param.type, click.Choice):
            yield [flag, "no-such-choice"]
        elif isinstance(param.type, click.types.IntParamType):
            yield [flag, "not-a-number"]
        elif param.name == "since":
            yield [flag, "3 fortnights"]
        elif param.name == "output":
            yield [flag, "/nonexistent-dir/out.file"]
        elif param.name == "tz":
            yield [flag, "Mars/Olympus_Mons"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working config with one snapshot taken, a jsonl sink and a baseline export file."""
    base = tmp_path_factory.mktemp("walk")
    (base / "inv.jsonl").write_text('{"type":"vm","key":"a","name":"alpha"}\n')
    (base / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{base}/b.db'}}\n"
        f"notify: {{sinks: [{{name: file, type: jsonl, path: '{base}/out.jsonl'}}]}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{base}/inv.jsonl'}}}}]\n"
    )
    assert poller("snapshot", cwd=base).returncode == 0
    (base / "export.jsonl").write_text(poller("baseline", "export", cwd=base).stdout)
    return base


def cases(workdir: Path) -> list[tuple[str, list[str], Path]]:
    """(what, argv, cwd) for every command and every kind of wrong input."""
    broken = workdir / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "poller.yaml").write_text("sources: 5\nbaseline: {url: 'nope://'}\n")
    out = []
    for path, command in commands():
        base = minimal(path, workdir)
        out.append(("unknown option", [*base, "--no-such-option"], workdir))
        for bad in bad_values(command):
            out.append((f"bad {bad[0]}", [*base, *bad], workdir))
        if path[0] not in NO_CONFIG and path != ("collectors",):
            out.append(("broken config", base, broken))
    return out


def error_text(line: str) -> str:
    """The error's text: the line itself, or the ``text`` of a JSON log line (stderr not a terminal)."""
    if line.startswith("{"):
        return str(json.loads(line).get("text", ""))
    return line


@pytest.mark.slow
def test_every_command_fails_in_one_line_without_traceback(workdir: Path) -> None:
    """Wrong input to any command: exit 2, a single 'poller: error:' line, never a traceback."""
    todo = cases(workdir)
    assert len(todo) > 30
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: (case, poller(*case[1], cwd=case[2])), todo))
    problems = []
    for (what, argv, _cwd), result in results:
        lines = result.stderr.strip().splitlines()
        if argv[0] == "check-config" and what == "broken config":  # it lists every problem, one per line
            lines = lines[:1]
        if (result.returncode != 2 or "Traceback" in result.stderr or len(lines) != 1
                or not error_text(lines[0]).startswith("poller: error: ")):
            problems.append(f"poller {' '.join(argv)} ({what}): exit {result.returncode}: {result.stderr.strip()[:300]}")
    assert problems == [], "\n".join(problems)


def test_unwritable_output_is_named(workdir: Path) -> None:
    """An -o into a missing directory names the path (checked before any work is done)."""
    for path, command in commands():
        if any(p.name == "output" for p in command.params):
            result = poller(*minimal(path, workdir), "-o", "/nonexistent-dir/out.file", cwd=workdir)
            assert result.returncode == 2 and "/nonexistent-dir" in result.stderr, (path, result.stderr)


def test_every_option_has_help_and_every_command_an_example() -> None:
    """`poller COMMAND -h` explains every option and shows at least one example command line."""
    missing = []
    for path, command in commands():
        name = " ".join(path)
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help" and not param.help:
                missing.append(f"{name} {param.opts[-1]}: no help text")
        if "poller " not in (command.help or ""):
            missing.append(f"{name}: no example in its help")
    assert missing == []
