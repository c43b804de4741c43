"""Canonical serialization and hashing: golden vectors and properties."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baseline.canonical import SCHEME_VERSION, Rules, canonical_bytes, hash_bytes, hash_hex, merge_ignore, parse_pointer
from baseline.errors import CanonicalError

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


class TestGoldenVectors:
    """The scheme's rules pinned to exact bytes and digests: changing any is a new scheme version."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"b": 1, "a": [True, None, 1.5]}, b'{"a":[true,null,1.5],"b":1}'),
            ({"z": {"y": 1, "x": 2}}, b'{"z":{"x":2,"y":1}}'),
            ({"n": float("nan"), "i": float("inf"), "m": float("-inf")}, b'{"i":null,"m":null,"n":null}'),
            (
                {"big": 2**53, "ok": 2**53 - 1, "neg": -(2**60)},
                b'{"big":"9007199254740992","neg":"-1152921504606846976","ok":9007199254740991}',
            ),
            ({"s": "a\ud800b"}, b'{"s":"a\\\\ud800b"}'),
            ({"t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))}, b'{"t":"2026-01-02T01:04:05Z"}'),
            ({"t": datetime(2026, 1, 2, 3, 4, 5)}, b'{"t":"2026-01-02T03:04:05Z"}'),
            ({"d": date(2026, 1, 2)}, b'{"d":"2026-01-02"}'),
            ({"set": {3, 1, 2}}, b'{"set":[1,2,3]}'),
            ({"u": "h\u00e9"}, '{"u":"h\u00e9"}'.encode()),
            ({1: "int key"}, b'{"1":"int key"}'),
        ],
    )
    def test_bytes(self, value: Any, expected: bytes) -> None:
        """B02: Each rule of the scheme produces exactly these bytes."""
        assert canonical_bytes(value) == expected

    def test_digest(self) -> None:
        """B04: xxh3-64 of a known document is a known digest (scheme version 1)."""
        assert SCHEME_VERSION == 1
        assert hash_hex(hash_bytes(b'{"a":1}')) == "c5e3762ffc8453c6"
        doc = {"name": "vm", "attributes": {"flavor": {"ram": 4096}}}
        assert hash_hex(hash_bytes(canonical_bytes(doc))) == "51d15b1e0fbf28c4"

    def test_B06_keys_colliding_as_strings_are_rejected(self) -> None:
        """B06: {1: "a", "1": "b"} would silently keep one value as JSON: it is an error naming both keys."""
        with pytest.raises(CanonicalError, match="collide as strings: 1 and '1'"):
            canonical_bytes({"outer": {1: "a", "1": "b"}})

    @pytest.mark.parametrize(("left", "right"), [(1, 1.0), (0.0, -0.0)])
    def test_B03_integral_floats_and_negative_zero_are_their_own_values(self, left: Any, right: Any) -> None:
        """B03/B04: 1 and 1.0, 0.0 and -0.0 hash differently (recorded in docs/decisions.md), and stably."""
        assert canonical_bytes({"n": left}) != canonical_bytes({"n": right})
        assert canonical_bytes({"n": right}) == canonical_bytes({"n": right})

    def test_bytes_values_are_rejected(self) -> None:
        """A value with no JSON form is an error, not a guess."""
        with pytest.raises(CanonicalError):
            canonical_bytes({"raw": b"\x00\x01"})


class TestProperties:
    """Properties that make an idle source produce no updates."""

    @given(json_objects)
    def test_key_order_does_not_matter(self, doc: dict[str, Any]) -> None:
        """B04: Dicts equal up to key order hash equal."""
        reordered = dict(reversed(list(doc.items())))
        assert hash_bytes(canonical_bytes(doc)) == hash_bytes(canonical_bytes(reordered))

    @given(json_objects, st.text(min_size=1, max_size=8), json_scalars)
    def test_any_change_changes_the_hash(self, doc: dict[str, Any], key: str, value: Any) -> None:
        """Changing a non-ignored value changes the hash."""
        changed = dict(doc)
        if key in changed and changed[key] == value and type(changed[key]) is type(value):
            return
        changed[key] = value
        if canonical_bytes(changed) == canonical_bytes(doc):
            # Only values the rules map together (e.g. -0.0 and 0.0 are equal floats) may collide.
            assert isinstance(value, float) and value == doc.get(key)
            return
        assert hash_bytes(canonical_bytes(changed)) != hash_bytes(canonical_bytes(doc))

    @given(json_objects, json_values)
    def test_ignored_fields_never_matter(self, doc: dict[str, Any], noise: Any) -> None:
        """A field under an ignored path never changes the normalized hash."""
        rules = Rules(ignore=("/metrics/load",))
        with_noise = {**doc, "metrics": {"load": noise}}
        without = {**doc, "metrics": {"load": 0}}
        assert canonical_bytes(rules.normalize(with_noise)) == canonical_bytes(rules.normalize(without))

    @given(st.lists(json_objects, max_size=5))
    def test_sets_ignore_order(self, items: list[dict[str, Any]]) -> None:
        """Lists declared as sets hash the same in any order."""
        rules = Rules(sets=("/rules",))
        a = rules.normalize({"rules": items})
        b = rules.normalize({"rules": list(reversed(items))})
        assert canonical_bytes(a) == canonical_bytes(b)

    @given(json_objects)
    def test_normalize_never_mutates(self, doc: dict[str, Any]) -> None:
        """Normalizing returns new containers and leaves the input as it was."""
        before = canonical_bytes(doc)
        Rules(ignore=("/*/x",), sets=("/*",)).normalize(doc)
        assert canonical_bytes(doc) == before


class TestRules:
    """Ignore patterns, wildcards and un-ignoring."""

    def test_wildcard_segment(self) -> None:
        """``*`` matches one segment of any key or index."""
        rules = Rules(ignore=("/addresses/*/mac",))
        doc = {"addresses": {"net1": {"ip": "1", "mac": "a"}, "net2": [{"mac": "b"}]}}
        assert rules.normalize(doc) == {"addresses": {"net1": {"ip": "1"}, "net2": [{"mac": "b"}]}}

    def test_wildcard_into_lists(self) -> None:
        """``*`` also matches list indexes."""
        rules = Rules(ignore=("/ports/*/status",))
        assert rules.normalize({"ports": [{"status": "UP", "id": 1}]}) == {"ports": [{"id": 1}]}

    def test_bang_removes_a_default(self) -> None:
        """``!/path`` in the config removes a collector's default ignore."""
        assert merge_ignore(("/a", "/b"), ("!/a", "/c")) == ("/b", "/c")

    def test_pointer_escapes(self) -> None:
        """RFC 6901 escapes ~0 and ~1 are honoured."""
        assert parse_pointer("/a~1b/c~0d") == ("a/b", "c~d")

    def test_fingerprint_tracks_rules(self) -> None:
        """Changing ignore rules, sets or the type's fingerprint changes the rules' fingerprint."""
        base = Rules(ignore=("/a",))
        assert base.fingerprint != Rules(ignore=("/b",)).fingerprint
        assert base.fingerprint != Rules(ignore=("/a",), type_fingerprint="2.79").fingerprint
        assert base.fingerprint == Rules(ignore=("/a",)).fingerprint

    def test_is_ignored(self) -> None:
        """Paths at or under an ignored pattern are ignored."""
        rules = Rules(ignore=("/m/*",))
        assert rules.is_ignored("/m/x/y") and not rules.is_ignored("/n")

    def test_nan_inside_nested_structure(self) -> None:
        """B03: A NaN nested deep is written as null, the same on the fast and the slow path."""
        assert canonical_bytes({"a": [None, {"b": math.nan}]}) == b'{"a":[null,{"b":null}]}'
        assert canonical_bytes({"a": [2**60, {"b": math.nan}]}) == b'{"a":["1152921504606846976",{"b":null}]}'
