"""Reports are written atomically: temp file + fsync + rename, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.errors import ConfigError
from poller.report.output import write_atomic


class TestWriteAtomic:
    """write_atomic replaces a report in one step or not at all."""

    def test_replaces_and_keeps_mode(self, tmp_path: Path) -> None:
        """An existing report is replaced whole and keeps its permissions; no temp file remains."""
        target = tmp_path / "r.html"
        target.write_text("old")
        target.chmod(0o640)
        write_atomic(target, "new")
        assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o640
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]

    def test_unwritable_directory_is_one_line_error(self, tmp_path: Path) -> None:
        """A path in a missing directory is a ConfigError (exit 2) naming the path."""
        with pytest.raises(ConfigError, match="cannot write .*nope/r.html: No such file or directory"):
            write_atomic(tmp_path / "nope" / "r.html", "x")

    def test_target_is_a_directory(self, tmp_path: Path) -> None:
        """Writing over a directory fails cleanly and leaves no temp file."""
        (tmp_path / "d").mkdir()
        with pytest.raises(ConfigError, match="cannot write"):
            write_atomic(tmp_path / "d", "x")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
