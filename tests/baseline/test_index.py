"""The compact baseline index and the digest-based listing diff (issue 16)."""

from __future__ import annotations

import numpy as np

from baseline.diff import Seen
from baseline.index import CREATED, UNCHANGED, UPDATED, BaselineIndex, key_digest
from baseline.listed import ListedDiff


def index_of(rows: dict[str, int], sources: dict[str, int] | None = None) -> BaselineIndex:
    return BaselineIndex([(k, h, (sources or {}).get(k)) for k, h in rows.items()])


class TestBaselineIndex:
    def test_get_contains_and_len(self) -> None:
        """Every stored key answers its hash (also keys with non-ASCII and lone surrogates); others answer None."""
        rows = {"a": 1, "b": -2, "é/ü": 3, "x\udc80y": 2**63 - 1}
        index = index_of(rows)
        assert len(index) == 4 and all(index.get(k) == h for k, h in rows.items())
        assert "a" in index and "zz" not in index and index.get("zz") is None
        assert sorted(index.keys()) == sorted(rows)

    def test_classify_created_updated_unchanged(self) -> None:
        """A batch is classified against the baseline by key digest and hash at once."""
        index = index_of({"a": 10, "b": 20})
        keys = ["a", "b", "c"]
        states = index.classify(keys, np.array([key_digest(k) for k in keys], dtype=np.int64),
                                np.array([10, 21, 5], dtype=np.int64))
        assert list(states) == [UNCHANGED, UPDATED, CREATED]

    def test_update_is_confirmed_on_the_key_itself(self) -> None:
        """A key whose digest equals a stored one but whose text differs (a collision) is created, not updated."""
        index = index_of({"a": 10})
        states = index.classify(["not-a"], np.array([key_digest("a")], dtype=np.int64), np.array([11], dtype=np.int64))
        assert list(states) == [CREATED]

    def test_absent_keys_are_sorted_keys_not_listed(self) -> None:
        """absent() names the baseline keys whose digest the listing did not hold."""
        index = index_of({k: 1 for k in "dcba"})
        listed = np.unique(np.array([key_digest("b"), key_digest("z")], dtype=np.int64))
        assert index.absent(listed) == ["a", "c", "d"]

    def test_by_source_finds_the_entity_of_a_known_record(self) -> None:
        """A raw-record digest the baseline stored points at its entity; unknown ones and unknown (NULL) digests do not."""
        index = index_of({"a": 10, "b": 20, "c": 30}, {"a": 111, "b": 222})
        found = index.by_source(np.array([222, 333, 0, 111], dtype=np.int64))
        assert [None if i < 0 else index.key_at(int(i)) for i in found] == ["b", None, None, "a"]
        assert int(index.hashes[found[0]]) == 20


class TestListedDiff:
    def test_duplicates_conflicts_and_counts(self) -> None:
        """A key listed twice with the same hash is a duplicate, with another hash a conflict; unique_count counts keys."""
        diff = ListedDiff(index_of({"a": 1}))
        digests = [key_digest(k) for k in ("a", "b", "b", "c", "c")]
        diff.add(np.array(digests, dtype=np.int64), np.array([1, 2, 2, 3, 4], dtype=np.int64))
        repeats = diff.finish()
        assert repeats.duplicates == (key_digest("b"),) and repeats.conflict == key_digest("c")
        assert diff.unique_count == 3 and diff.listed("b") and not diff.listed("d")

    def test_absent_and_a_later_observation(self) -> None:
        """A key re-read after the listing (confirming a deletion) is no longer absent, and is classified."""
        diff = ListedDiff(index_of({"a": 1, "b": 2, "c": 3}))
        diff.add(np.array([key_digest("a")], dtype=np.int64), np.array([1], dtype=np.int64))
        diff.finish()
        assert diff.absent() == ["b", "c"]
        assert diff.observe("b", 2) is Seen.UNCHANGED and diff.observe("c", 4) is Seen.UPDATED
        assert diff.absent() == [] and diff.unique_count == 3 and diff.listed("c")
