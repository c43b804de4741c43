"""The pure diff: classification, deletion planning and field-level changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from baseline.diff import DeletionPolicy, Seen, TypeDiff, field_changes, is_mass_deletion, plan_deletions


class TestTypeDiff:
    """Listed entities against baseline hashes."""

    def test_classifies_created_updated_unchanged(self) -> None:
        """New keys are created, other hashes updated, equal hashes unchanged."""
        diff = TypeDiff({"a": 1, "b": 2})
        assert diff.observe("a", 1) is Seen.UNCHANGED
        assert diff.observe("b", 3) is Seen.UPDATED
        assert diff.observe("c", 4) is Seen.CREATED

    def test_duplicates_collapse_and_conflicts_are_flagged(self) -> None:
        """B05: The same key twice is a duplicate when equal, a conflict when not."""
        diff = TypeDiff({})
        diff.observe("a", 1)
        assert diff.observe("a", 1) is Seen.DUPLICATE
        assert diff.observe("a", 2) is Seen.CONFLICT

    def test_absent_lists_unseen_baseline_keys(self) -> None:
        """Keys of the baseline that were not listed are absent."""
        diff = TypeDiff({"a": 1, "b": 2, "c": 3})
        diff.observe("b", 2)
        assert diff.absent() == ["a", "c"]


class TestDeletionPlanning:
    """Misses and the mass-deletion guard."""

    def test_min_misses_delays_deletion(self) -> None:
        """With min_misses=2 a first miss is only counted."""
        plan = plan_deletions(["a"], {}, 100, DeletionPolicy(min_misses=2))
        assert plan.delete == () and plan.missed == (("a", 1),)
        plan = plan_deletions(["a"], {"a": 1}, 100, DeletionPolicy(min_misses=2))
        assert plan.delete == ("a",)

    def test_mass_deletion_is_held(self) -> None:
        """F08: Deleting more than max_fraction (and at least min_count) is held, nothing deleted."""
        keys = [str(i) for i in range(60)]
        plan = plan_deletions(keys, {}, 100, DeletionPolicy())
        assert plan.delete == () and len(plan.held) == 60

    def test_allow_mass_delete_releases(self) -> None:
        """--allow-mass-delete lets the deletions through."""
        keys = [str(i) for i in range(60)]
        assert len(plan_deletions(keys, {}, 100, DeletionPolicy(allow_mass_delete=True)).delete) == 60

    def test_small_types_are_not_guarded(self) -> None:
        """F08: Fewer than min_count deletions never trip the guard."""
        assert not is_mass_deletion(9, 10, DeletionPolicy())
        assert is_mass_deletion(10, 10, DeletionPolicy())


class TestFieldChanges:
    """JSON-pointer changes between two documents."""

    def test_nested_change_path(self) -> None:
        """A nested value change is reported at its RFC 6901 path."""
        changes = field_changes({"flavor": {"name": "m1.small"}}, {"flavor": {"name": "m1.large"}})
        assert [c.as_dict() for c in changes] == [{"path": "/flavor/name", "old": "m1.small", "new": "m1.large"}]

    def test_added_and_removed_keys(self) -> None:
        """A key present on one side only is reported with None on the other."""
        changes = field_changes({"a": 1}, {"b": 2})
        assert [(c.path, c.old, c.new) for c in changes] == [("/a", 1, None), ("/b", None, 2)]

    def test_escaped_segments(self) -> None:
        """Keys holding '/' or '~' are escaped in paths."""
        assert field_changes({"a/b": 1}, {"a/b": 2})[0].path == "/a~1b"

    def test_lists_of_other_length_are_reported_whole(self) -> None:
        """A list that grew or shrank is one change with both lists."""
        changes = field_changes({"l": [1]}, {"l": [1, 2]})
        assert [(c.path, c.old, c.new) for c in changes] == [("/l", [1], [1, 2])]

    def test_type_change_is_a_change(self) -> None:
        """1 and 1.0 and True differ."""
        assert field_changes({"x": 1}, {"x": True})

    def test_type_change_inside_equal_containers_is_a_change(self) -> None:
        """Containers Python calls equal ({"x": 1} == {"x": 1.0}) are walked when their JSON differs."""
        changes = field_changes({"m": {"x": 1}, "l": [1], "same": {"a": [1]}}, {"m": {"x": 1.0}, "l": [True], "same": {"a": [1]}})
        assert [(c.path, c.old, c.new) for c in changes] == [("/l/0", 1, True), ("/m/x", 1, 1.0)]

    def test_ignored_paths_are_left_out(self) -> None:
        """A change under an ignored path is not reported."""
        assert field_changes({"m": {"x": 1}}, {"m": {"x": 2}}, lambda p: p.startswith("/m")) == []

    @given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=5))
    def test_equal_documents_have_no_changes(self, doc: dict[str, int]) -> None:
        """A document compared with itself has no changes."""
        assert field_changes(doc, dict(doc)) == []


class TestSplitDocument:
    """Cutting the attributes out of a canonical document without parsing them."""

    def test_split_matches_parse(self) -> None:
        """Nested "name" keys and tricky strings do not fool the cut."""
        import orjson

        from baseline.canonical import canonical_bytes
        from baseline.diff import entity_document, split_document

        attributes = {"image": {"name": "x"}, "s": 'a,"name":b', "name": "inner"}
        doc = entity_document('n,"name":', ("host", "h"), "ACTIVE", None, attributes)
        data = canonical_bytes(doc)
        raw, envelope = split_document(data)
        assert orjson.loads(raw) == attributes
        assert envelope == {"name": 'n,"name":', "parent": {"type": "host", "key": "h"}, "project": None, "state": "ACTIVE"}
