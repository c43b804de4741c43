"""The static collector's JSON Lines pages (issue 16): byte ranges, type-first lines, one pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.base import EntityType, ListContext, RawPage
from collectors.static import StaticCollector

CTX = ListContext(now=datetime(2026, 1, 1, tzinfo=UTC))


class Tiny(StaticCollector):
    """Pages of 100 bytes: every page boundary cuts a line."""

    page_bytes = 100


def lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def listed(collector: StaticCollector, type_name: str) -> tuple[list[str], Any]:
    listing = collector.list(EntityType(type_name), CTX)
    return [e.key for e in listing.entities()], listing


class TestPages:
    def test_every_line_once_whatever_the_page_boundaries(self, tmp_path: Path) -> None:
        """Lines cut by page boundaries are read by the page they start in, exactly once, in order."""
        path = tmp_path / "inv.jsonl"
        keys = [f"k{i}-" + "x" * (i % 37) for i in range(300)]
        path.write_text(lines([{"type": "vm", "key": k} for k in keys]))
        got, listing = listed(Tiny("s", {"path": str(path)}), "vm")
        assert got == keys and listing.complete

    def test_pages_are_raw_pages_with_split_and_parse(self, tmp_path: Path) -> None:
        """The listing yields RawPages whose split/parse agree with decode (what the hash pool relies on)."""
        path = tmp_path / "inv.jsonl"
        path.write_text(lines([{"type": "vm", "key": f"k{i}"} for i in range(50)]))
        pages = list(Tiny("s", {"path": str(path)}).list(EntityType("vm"), CTX))
        assert pages and all(isinstance(p, RawPage) and p.split and p.parse for p in pages)
        for page in pages:
            records, wheres = page.split(page.data, page.context)  # type: ignore[misc]
            parsed = [e for _, e in page.parse(records, wheres, page.context)]  # type: ignore[misc]
            assert parsed == list(page.entities())

    def test_bad_line_named_by_its_line_number_across_pages(self, tmp_path: Path) -> None:
        """An invalid line deep in the file is reported with its real line number, whatever page held it."""
        path = tmp_path / "inv.jsonl"
        good = [json.dumps({"type": "vm", "key": f"k{i}"}) for i in range(120)]
        good[87] = '{"type":"vm","key": broken'
        path.write_text("\n".join(good) + "\n")
        _, listing = listed(Tiny("s", {"path": str(path)}), "vm")
        assert listing.complete is False and str(listing.error).endswith("inv.jsonl:88: not valid JSON")

    def test_other_types_skipped_and_discovered_from_the_prefix(self, tmp_path: Path) -> None:
        """Type discovery reads each line's leading type (and parses lines written otherwise); listing
        one type yields only its entities, blank lines ignored."""
        path = tmp_path / "inv.jsonl"
        records = [{"type": "vm", "key": "a"}, {"type": "net", "key": "n"}, {"key": "b", "type": "vm"},
                   {"type": "disk", "key": "d"}]
        path.write_text(lines(records) + "\n\n")
        collector = Tiny("s", {"path": str(path)})
        assert [t.name for t in collector.discover_types()] == ["vm", "net", "disk"]
        assert listed(collector, "vm")[0] == ["a", "b"] and listed(collector, "net")[0] == ["n"]

    @pytest.mark.parametrize("size", [1, 99, 100, 101])
    def test_lines_as_long_as_a_page(self, tmp_path: Path, size: int) -> None:
        """Lines around the page size (shorter, equal, longer) are each read whole once."""
        path = tmp_path / "inv.jsonl"
        keys = [f"{i}-" + "y" * size for i in range(20)]
        path.write_text(lines([{"type": "vm", "key": k} for k in keys]))
        assert listed(Tiny("s", {"path": str(path)}), "vm")[0] == keys
