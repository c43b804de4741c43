"""`poller diff`, `poller history` and `poller show` as a user runs them: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import poller


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static source snapshotted twice: vm a resized and put in maintenance, vm b deleted (shared, read-only)."""
    tmp_path = tmp_path_factory.mktemp("changed")
    inv = tmp_path / "inv.jsonl"
    inv.write_text('{"type":"vm","key":"a","name":"alpha","state":"up","attributes":{"flavor":"small"}}\n'
                   '{"type":"vm","key":"b","name":"beta","attributes":{"flavor":"small"}}\n')
    (tmp_path / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inv}'}}}}]\n"
    )
    assert poller("snapshot", cwd=tmp_path).returncode == 0
    inv.write_text('{"type":"vm","key":"a","name":"alpha","state":"maintenance","attributes":{"flavor":"large"}}\n')
    assert poller("snapshot", cwd=tmp_path).returncode == 0
    return tmp_path


class TestDiff:
    """The diff report from the command line."""

    def test_html_written_atomically_with_fields(self, changed: Path) -> None:
        """diff --format html -o writes the page (state and flavor changes in it) and says so on stderr."""
        result = poller("diff", "--format", "html", "-o", str(changed / "r.html"), cwd=changed)
        assert result.returncode == 0 and "wrote 4 changes to" in result.stderr
        page = (changed / "r.html").read_text()
        assert "maintenance" in page and "large" in page and "<svg" in page
        assert not list(changed.glob(".r.html.*"))

    def test_unwritable_output_is_one_line_exit_2(self, changed: Path) -> None:
        """-o into a missing directory: exit 2, one line, no traceback."""
        result = poller("diff", "--format", "html", "-o", str(changed / "no" / "r.html"), cwd=changed)
        assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr

    def test_bad_zone_is_usage_error(self, changed: Path) -> None:
        """--tz naming no zone exits 2 with one line."""
        result = poller("diff", "--tz", "Mars/Olympus", cwd=changed)
        assert result.returncode == 2 and "--tz 'Mars/Olympus'" in result.stderr

    def test_zone_shown(self, changed: Path) -> None:
        """--tz shows times in that zone and names it."""
        assert "TIME (CET)" in poller("diff", "--tz", "Europe/Berlin", cwd=changed).stdout


class TestHistory:
    """`poller history TYPE/KEY`."""

    def test_table(self, changed: Path) -> None:
        """The entity's create then update with both changed fields."""
        out = poller("history", "vm/a", cwd=changed).stdout
        assert "state: up -> maintenance" in out and "/flavor: small -> large" in out
        assert out.index("+create") < out.index("~update")

    def test_json(self, changed: Path) -> None:
        """json: an object with the changes as recorded, oldest first."""
        body = json.loads(poller("history", "vm/b", "--format", "json", cwd=changed).stdout)
        assert [n["action"] for n in body["changes"]] == ["create", "delete"] and body["pruned"] is False

    def test_unknown_exits_1(self, changed: Path) -> None:
        """An unknown TYPE/KEY is one line and exit 1."""
        result = poller("history", "vm/zzz", cwd=changed)
        assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
        assert "poller: error: no entity vm/zzz: not in the baseline nor in the recorded changes" in result.stderr

    def test_malformed_ref_exits_2(self, changed: Path) -> None:
        """A reference without a slash is a usage error."""
        assert poller("history", "vm", cwd=changed).returncode == 2


class TestShow:
    """`poller show TYPE/KEY`."""

    def test_table(self, changed: Path) -> None:
        """Name, state, version and the stored attributes."""
        out = poller("show", "vm/a", cwd=changed).stdout
        for expected in ("name          alpha", "state         maintenance", "version       2", '"flavor": "large"'):
            assert expected in out

    def test_json(self, changed: Path) -> None:
        """json: the stored fields, children count and times."""
        view = json.loads(poller("show", "vm/b", "--format", "json", cwd=changed).stdout)
        assert view["deleted_at"] and view["children"] == 0 and view["name"] == "beta"

    def test_unknown_exits_1(self, changed: Path) -> None:
        """An unknown TYPE/KEY is one line and exit 1."""
        result = poller("show", "vm/zzz", cwd=changed)
        assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
        assert "poller: error: no entity vm/zzz in the baseline" in result.stderr
