"""The static inventory rewritten while it is read: a torn read is incomplete, never a half listing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from baseline.diff import DeletionPolicy
from collectors.base import EntityType, ListContext
from collectors.errors import ListingIncomplete
from collectors.static import StaticCollector
from tests.poller.helpers import run

CTX = ListContext(now=datetime(2026, 1, 1, tzinfo=UTC))
N = 20_000


def write(path: Path, keys: range) -> None:
    path.write_text("".join(json.dumps({"type": "vm", "key": f"vm-{i}"}) + "\n" for i in keys))


def cut_to_half(path: Path) -> None:
    """Rewrite the file in place as a writer caught half-way would leave it: its first half of lines."""
    lines = path.read_bytes().splitlines(keepends=True)
    with path.open("r+b") as handle:
        handle.truncate(sum(len(line) for line in lines[: len(lines) // 2]))


class SmallPages(StaticCollector):
    """Reads its inventory in 4 KB pages, so a 20,000-line file is many pages."""

    page_bytes = 4096


def read_with(path: Path, meanwhile: Any) -> tuple[list[str], Any]:
    """List the file page by page (decoding each here), doing ``meanwhile()`` after the first page."""
    listing = SmallPages("s", {"path": str(path)}).list(EntityType("vm"), CTX)
    keys: list[str] = []
    for number, page in enumerate(listing, 1):
        try:
            keys.extend(entity.key for entity in page.entities())
        except ListingIncomplete as exc:
            listing.fail(exc)
            break
        if number == 1:
            meanwhile()
    return keys, listing


class TestTornReads:
    def test_rewritten_in_place_mid_read_is_incomplete(self, tmp_path: Path) -> None:
        """A file cut to half its lines (a writer caught half-way) while being read ends the listing incomplete."""
        path = tmp_path / "inv.jsonl"
        write(path, range(N))

        _, listing = read_with(path, lambda: cut_to_half(path))
        assert listing.complete is False and "changed while it was being read" in str(listing.error)

    def test_replaced_by_rename_mid_read_lists_the_old_file_whole(self, tmp_path: Path) -> None:
        """A new inventory renamed into place while the old one is read: the old one is listed whole."""
        path = tmp_path / "inv.jsonl"
        write(path, range(N))

        def replace() -> None:
            fresh = tmp_path / "new.jsonl"
            write(fresh, range(10))
            os.replace(fresh, path)

        keys, listing = read_with(path, replace)
        assert listing.complete and len(keys) == N

    def test_torn_read_deletes_nothing(self, store: Any, clock: Any, tmp_path: Path) -> None:
        """A run whose inventory was rewritten in place mid-read commits no deletion, even with the
        mass-deletion guard released."""
        path = tmp_path / "inv.jsonl"
        write(path, range(N))
        from poller.config import SourceConfig

        source = SourceConfig(name="src", collector="static", options={"path": str(path)})
        first, _ = run(store, [], clock, source=source, collector=StaticCollector("src", {"path": str(path)}))
        assert first.status == "ok"

        class Tearing(SmallPages):
            """Rewrites its own inventory in place after its first page was decoded."""

            def _jsonl_of_type(self, path: Path, type_name: str) -> Any:
                for count, page in enumerate(super()._jsonl_of_type(path, type_name), 1):
                    if count == 2:
                        cut_to_half(path)
                    yield page

        unguarded = DeletionPolicy(allow_mass_delete=True)  # the guard would hide a torn read's deletions
        result, notes = run(store, [], clock, source=source, collector=Tearing("src", {"path": str(path)}),
                            deletion=unguarded)
        assert result.status != "ok" and [n for n in notes if n["action"] == "delete"] == []
