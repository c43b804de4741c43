"""The static collector: formats, errors naming file and line, incompleteness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import EntityType, ListContext
from collectors.errors import OptionError
from collectors.static import StaticCollector

CTX = ListContext(now=datetime(2026, 1, 1, tzinfo=UTC))


def listed(collector: StaticCollector, etype: str = "vm"):  # type: ignore[no-untyped-def]
    listing = collector.list(EntityType(etype), CTX)
    return [e.key for e in listing.entities()], listing


class TestFormats:
    """YAML, JSON, JSON Lines and inline entities."""

    def test_jsonl(self, tmp_path: Path) -> None:
        """JSON Lines streams one entity per line."""
        path = tmp_path / "inv.jsonl"
        path.write_text('{"type":"vm","key":"a"}\n\n{"type":"vm","key":"b","parent":{"type":"host","key":"h"}}\n')
        keys, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert keys == ["a", "b"] and listing.complete

    def test_yaml(self, tmp_path: Path) -> None:
        """YAML files hold an entities list."""
        path = tmp_path / "inv.yaml"
        path.write_text("entities:\n  - {type: vm, key: a, attributes: {x: 1}}\n  - {type: host, key: h}\n")
        keys, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert keys == ["a"] and listing.complete

    def test_json(self, tmp_path: Path) -> None:
        """JSON files hold an entities list."""
        path = tmp_path / "inv.json"
        path.write_text('{"entities": [{"type": "vm", "key": 7}]}')
        keys, _ = listed(StaticCollector("s", {"path": str(path)}))
        assert keys == ["7"]

    def test_discovers_types(self, tmp_path: Path) -> None:
        """Without declared types, the inventory's types are discovered."""
        c = StaticCollector("s", {"entities": [{"type": "vm", "key": "a"}, {"type": "host", "key": "h"}]})
        assert [t.name for t in c.discover_types()] == ["vm", "host"]


class TestErrors:
    """Bad input is named precisely and makes the listing incomplete."""

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an incomplete listing naming the file."""
        _, listing = listed(StaticCollector("s", {"path": str(tmp_path / "none.jsonl")}))
        assert not listing.complete and "none.jsonl" in str(listing.error)

    def test_bad_line_names_file_and_line(self, tmp_path: Path) -> None:
        """B01: A line that is not JSON names file:line."""
        path = tmp_path / "inv.jsonl"
        path.write_text('{"type":"vm","key":"a"}\n{broken\n')
        _, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert not listing.complete and f"{path}:2: not valid JSON" == str(listing.error)

    def test_missing_key_names_line(self, tmp_path: Path) -> None:
        """B16: An entity without a key names the line and the field."""
        path = tmp_path / "inv.yaml"
        path.write_text("entities:\n  - {type: vm, key: a}\n  - {type: vm}\n")
        _, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert str(listing.error) == f"{path}:3: missing required field 'key'"

    def test_non_utf8_line(self, tmp_path: Path) -> None:
        """B02: Non-UTF-8 bytes in a JSON line are reported, not guessed."""
        path = tmp_path / "inv.jsonl"
        path.write_bytes(b'{"type":"vm","key":"\xff"}\n')
        _, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert "inv.jsonl:1" in str(listing.error)

    def test_nan_is_rejected_in_json(self, tmp_path: Path) -> None:
        """B03: NaN is not JSON: the line is bad."""
        path = tmp_path / "inv.jsonl"
        path.write_text('{"type":"vm","key":"a","attributes":{"x":NaN}}\n')
        _, listing = listed(StaticCollector("s", {"path": str(path)}))
        assert not listing.complete

    def test_unknown_field(self) -> None:
        """Unknown entity fields are errors, not silently dropped."""
        _, listing = listed(StaticCollector("s", {"entities": [{"type": "vm", "key": "a", "colour": "red"}]}))
        assert "unknown field 'colour'" in str(listing.error)

    @pytest.mark.parametrize(
        ("options", "field"),
        [({}, "path"), ({"path": "x.txt"}, "path"), ({"path": "a.yaml", "entities": []}, "path"), ({"entities": [], "bogus": 1}, "bogus")],
    )
    def test_bad_options(self, options: dict, field: str) -> None:
        """Option errors name sources.<name>.options.<field>."""
        with pytest.raises(OptionError, match=rf"^sources\.s\.options\.{field}:"):
            StaticCollector("s", options)
