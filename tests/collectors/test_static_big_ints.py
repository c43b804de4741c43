"""Integers beyond 64 bits in a static inventory keep their exact value (B04)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.base import EntityType, ListContext
from collectors.static import StaticCollector
from poller.config import SourceConfig
from tests.poller.helpers import run

CTX = ListContext(now=datetime(2026, 1, 1, tzinfo=UTC))
HUGE = 2**64 + 1


def listed(path: Path) -> list[Any]:
    return list(StaticCollector("s", {"path": str(path)}).list(EntityType("vm"), CTX).entities())


class TestBigIntegers:
    def test_B04_huge_integer_is_exact(self, tmp_path: Path) -> None:
        """B04: 2**64+1 and -(2**70) come back as those integers, not as floats; ids full of digits stay strings."""
        path = tmp_path / "inv.jsonl"
        path.write_text(json.dumps({"type": "vm", "key": "a", "attributes": {
            "n": HUGE, "m": -(2**70), "host": "0" * 40, "small": 7}}) + "\n")
        (entity,) = listed(path)
        assert entity.attributes == {"n": HUGE, "m": -(2**70), "host": "0" * 40, "small": 7}

    def test_B04_change_between_two_huge_integers_is_an_update(self, store: Any, clock: Any, tmp_path: Path) -> None:
        """B04: 2**64+1 -> 2**64+2 (the same float) is one update with the exact values."""
        path = tmp_path / "inv.jsonl"
        source = SourceConfig(name="src", collector="static", options={"path": str(path)})

        def poll(value: int) -> list[dict[str, Any]]:
            path.write_text(json.dumps({"type": "vm", "key": "a", "attributes": {"n": value}}) + "\n")
            return run(store, [], clock, source=source, collector=StaticCollector("src", {"path": str(path)}))[1]

        poll(HUGE)
        (update,) = poll(HUGE + 1)
        assert update["action"] == "update"
        assert update["changes"] == [{"path": "/n", "old": str(HUGE), "new": str(HUGE + 1)}]

    def test_B04_nan_is_still_refused_on_the_exact_path(self, tmp_path: Path) -> None:
        """B03: a line that needs the exact parser still refuses NaN as not JSON."""
        path = tmp_path / "inv.jsonl"
        path.write_text('{"type": "vm", "key": "a", "attributes": {"n": 184467440737095516170, "x": NaN}}\n')
        listing = StaticCollector("s", {"path": str(path)}).list(EntityType("vm"), CTX)
        assert list(listing.entities()) == [] and listing.complete is False and "not valid JSON" in str(listing.error)
