"""The diff report in every format: the same fields everywhere, hostile names kept as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import orjson
import pytest

from poller import render
from tests.poller.report.notes import HOSTILE, demo_notes, note

END = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def report(fmt: str, notes: list | None = None) -> str:
    """The demo-shaped notes rendered over the 24 hours up to END."""
    return render.diff_report(demo_notes() if notes is None else notes, fmt, "Changes since 24h",
                              start=END - timedelta(hours=24), end=END)


class _Elements(HTMLParser):
    """Collects the tags and attributes a browser's parser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(page)
    return parser.tags


class TestSameFieldsEverywhere:
    """Table, markdown and HTML show the same changed fields, ``previous`` included."""

    @pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
    def test_state_change_shown(self, fmt: str) -> None:
        """db-1's up -> maintenance (only in ``previous``) is in every format."""
        text = report(fmt)
        assert re.search(r"state\W.*up\W.*maintenance", text.replace("\n", " ")), text[:2000]

    @pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
    def test_name_parent_project_changes_shown(self, fmt: str) -> None:
        """A rename, a move to another parent and a project change show both sides."""
        text = report(fmt)
        for old, new in (("batch-3", "batch-worker-3"), ("compute.hypervisor/hv-1", "compute.hypervisor/hv-2"), ("p-old", "p-new")):
            assert old in text and new in text

    @pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
    def test_period_and_zone_in_header(self, fmt: str) -> None:
        """The header names the period and its time zone."""
        assert "2026-12-03 18:00:00 UTC" in report(fmt) and "2026-12-04 18:00:00 UTC" in report(fmt)

    def test_json_carries_every_notification(self) -> None:
        """json is the recorded notifications, first loads included."""
        assert len(orjson.loads(report("json"))) == len(demo_notes())


class TestHtmlPage:
    """The HTML report is one self-contained, offline page."""

    def test_nothing_fetched(self) -> None:
        """No element loads anything from elsewhere (no src or href to a URL, no link/import)."""
        tags = elements(report("html"))
        assert not [t for t, a in tags if t in ("link", "iframe", "img", "object", "embed")]
        assert not [a for _, a in tags if any(k in ("src", "href") for k in a)]
        assert "@import" not in report("html") and "url(" not in report("html")

    def test_csp_allows_only_its_own_script(self) -> None:
        """A Content-Security-Policy allows exactly the page's script, by hash."""
        page = report("html")
        assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", page) and "default-src 'none'" in page
        assert page.count("<script>") == 1

    def test_first_loads_folded_per_type(self) -> None:
        """First-load creates are one expandable row per source and type, not one row each."""
        tags = elements(report("html"))
        folded = [a for t, a in tags if t == "tr" and "initial" in (a.get("class") or "")]
        assert [a["data-type"] for a in folded] == ["rack", "server"]
        assert sum(1 for t, _ in tags if t == "details") >= 2

    def test_summary_timeline_and_filters_present(self) -> None:
        """The page has a summary table, an SVG timeline and source/type/action filters."""
        tags = elements(report("html"))
        names = {a.get("name") for t, a in tags if t in ("select", "input")}
        assert {"source", "type", "a-create", "a-update", "a-delete"} <= names
        assert any(t == "svg" for t, _ in tags) and any(t == "rect" for t, _ in tags)

    def test_timestamps_do_not_wrap(self) -> None:
        """Times are <time> elements, and time elements are styled not to wrap."""
        page = report("html")
        assert "<time datetime='2026-12-04T17:37:02.659000+00:00'>2026-12-04 17:37:02 UTC</time>" in page
        assert re.search(r"\.nowrap,time\{white-space:nowrap\}", page)

    def test_empty_report(self) -> None:
        """No changes is said plainly."""
        assert "No changes in this period." in report("html", [])


class TestHostileNames:
    """B18/S09: entity names are untrusted input in every format."""

    def hostile(self) -> list[dict]:
        return [note("update", HOSTILE, HOSTILE, previous={"name": HOSTILE}, changes=[{"path": "/x", "old": HOSTILE, "new": 1}])]

    def test_html_has_no_injected_elements(self) -> None:
        """B18: a name of <script> or <img onerror> makes no element and no attribute."""
        page = report("html", self.hostile())
        tags = elements(page)
        assert [t for t, _ in tags if t == "script"] == ["script"]  # the page's own only
        assert not [t for t, _ in tags if t == "img"]
        assert not [a for _, a in tags if any(k.startswith("on") for k in a)]
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page

    def test_html_shows_control_characters(self) -> None:
        """B18: newline and ANSI escape are shown as \\n and \\e, never raw."""
        page = report("html", self.hostile())
        assert "\x1b" not in page and "\\n\\e[31mred" in page

    def test_markdown_cells_stay_cells(self) -> None:
        """B18: | cannot end a cell, < cannot start HTML, a newline cannot end a row, ` * _ [ ] are escaped."""
        text = report("markdown", self.hostile())
        rows = [line for line in text.splitlines() if line.startswith("| ") and "pwned" in line]
        assert rows and all("<" not in r and "\x1b" not in r for r in rows)
        for row in rows:
            cells = re.split(r"(?<!\\)\|", row)
            assert len(cells) in (5, 8), row  # field changes (3 cells) or the changes table (6 cells)
        assert "red\\|pipe\\`\\*\\_\\[x\\](y)" in text

    def test_table_shows_escapes(self) -> None:
        """B18: the text report has no raw newline or ESC from a name, so rows stay rows."""
        text = report("table", self.hostile())
        assert "\x1b" not in text and "\\e[31m" in text
        assert not [line for line in text.splitlines() if line.startswith("red|pipe")]
