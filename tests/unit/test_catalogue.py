"""The catalogue table is read from test names and docstrings."""

from __future__ import annotations

from pathlib import Path

from tests import catalogue


class TestCatalogue:
    def test_ids_in_names_and_docstrings_are_found(self, tmp_path: Path) -> None:
        """A test named test_F12_... and one whose docstring says 'B06:' are both counted; F99 is not a case."""
        tests = tmp_path / "tests"
        tests.mkdir()
        (tests / "test_x.py").write_text(
            "class TestA:\n"
            "    def test_F12_offsets(self):\n        'shifted pages'\n\n"
            "def test_other():\n    'B06: duplicate keys; also F99 which is no case'\n",
            encoding="utf-8")
        table = catalogue.coverage(tests)
        assert table["F12"] == ["tests/test_x.py::TestA::test_F12_offsets"]
        assert table["B06"] == ["tests/test_x.py::test_other"]
        assert "F99" not in table and table["F01"] == []

    def test_write_replaces_only_the_generated_block(self, tmp_path: Path) -> None:
        """Refreshing the table keeps the document's own text before and after it."""
        doc = tmp_path / "reliability.md"
        doc.write_text("# Title\n\nintro\n", encoding="utf-8")
        catalogue.write_into(doc, "table one\n")
        catalogue.write_into(doc, "table two\n")
        text = doc.read_text(encoding="utf-8")
        assert text.startswith("# Title\n\nintro\n") and "table two" in text and "table one" not in text
        assert text.count(catalogue.TABLE_BEGIN) == 1

    def test_the_catalogue_has_66_cases(self) -> None:
        """The project's list of case ids matches the reliability contract's 66."""
        assert len(catalogue.CASES) == 66
        assert sum(1 for c in catalogue.CASES if c.startswith("F")) == 30


def test_reliability_doc_table_is_the_generated_one() -> None:
    """docs/reliability.md's catalogue table is exactly what the suite generates (it cannot drift;
    refresh it with `python -m tests.catalogue --write docs/reliability.md`)."""
    from pathlib import Path

    doc = (Path(catalogue.TESTS).parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    block = doc.split(catalogue.TABLE_BEGIN, 1)[1].split(catalogue.TABLE_END, 1)[0]
    assert block.strip() == catalogue.markdown(catalogue.coverage()).strip()
