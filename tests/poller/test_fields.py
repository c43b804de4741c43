"""The field policy of a source: only kept fields leave the process, redacted values never do (S10, B13)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from baseline.canonical import REDACTED_PREFIX, Rules
from baseline.store import Store
from poller.config import FieldPolicy, SourceConfig
from tests.poller.helpers import run, vm

SECRET = "SECRET-CANARY-adminpass-9c1f"


def source(**policy: Any) -> SourceConfig:
    """A static source with the given field policy."""
    return SourceConfig(name="src", collector="static", options={}, fields=FieldPolicy(**policy))


def everything_stored(store: Store) -> bytes:
    """Every stored payload and every outbox body, as one blob to search."""
    payloads = [e.payload or b"" for e in store.iter_entities(include_deleted=True)]
    bodies = [row.body for row in store.history()]
    return b"\n".join([*payloads, *bodies])


class TestKeepAndDrop:
    def test_S10_allowlist_keeps_only_listed_fields(self, store: Store, clock: Any) -> None:
        """S10: with keep [/id, /flavor], the entity carries only those, stored and emitted."""
        src = source(keep={"vm": ("/id", "/flavor")})
        _, notes = run(store, [vm("a", flavor="m1", metadata={"owner": "x"}, user_data="abc")], clock, source=src)
        assert notes[0]["entity"] == {"id": "a", "flavor": "m1"}
        assert b"user_data" not in everything_stored(store) and b"owner" not in everything_stored(store)

    def test_S10_denylist_drops_fields_and_their_changes(self, store: Store, clock: Any) -> None:
        """S10: a dropped field never leaves, and a change of it alone emits nothing."""
        src = source(drop={"*": ("/metadata/password",)})
        run(store, [vm("a", metadata={"password": SECRET, "team": "db"})], clock, source=src)
        _, idle = run(store, [vm("a", metadata={"password": "other", "team": "db"})], clock, source=src)
        _, changed = run(store, [vm("a", metadata={"password": "other", "team": "web"})], clock, source=src)
        assert idle == []
        assert [c["path"] for c in changed[0]["changes"]] == ["/metadata/team"]
        assert SECRET.encode() not in everything_stored(store)


class TestRedaction:
    def test_B13_redacted_value_changes_are_seen_but_never_stored(self, store: Store, clock: Any) -> None:
        """B13: a password in metadata is replaced by a keyed HMAC; changing it is one update naming
        the path, and the value appears nowhere in the baseline or the notifications."""
        src = source(redact={"vm": ("/metadata/adminPass",)}, redaction_key="k-1")
        _, first = run(store, [vm("a", metadata={"adminPass": SECRET})], clock, source=src)
        _, idle = run(store, [vm("a", metadata={"adminPass": SECRET})], clock, source=src)
        _, changed = run(store, [vm("a", metadata={"adminPass": SECRET + "-rotated"})], clock, source=src)
        assert first[0]["entity"]["metadata"]["adminPass"].startswith(REDACTED_PREFIX)
        assert idle == []
        assert [c["path"] for c in changed[0]["changes"]] == ["/metadata/adminPass"]
        assert all(str(c["old"]).startswith(REDACTED_PREFIX) for c in changed[0]["changes"])
        assert SECRET.encode() not in everything_stored(store)

    def test_B13_changing_the_policy_rehashes_without_a_flood(self, store: Store, clock: Any) -> None:
        """B13/F28: dropping one more field later re-hashes stored payloads: no updates for it."""
        entities = [vm(k, metadata={"team": "db", "note": "n"}) for k in ("a", "b", "c")]
        run(store, entities, clock, source=source())
        _, notes = run(store, entities, clock, source=source(drop={"*": ("/metadata/note",)}))
        assert notes == []


class TestShape:
    @pytest.mark.parametrize(("rules", "attributes", "expected"), [
        (Rules(keep=("/a", "/n/*/x")), {"a": 1, "b": 2, "n": [{"x": 1, "y": 2}]}, {"a": 1, "n": [{"x": 1}]}),
        (Rules(keep=("/m",)), {"m": {"deep": [1, 2]}, "z": 0}, {"m": {"deep": [1, 2]}}),
        (Rules(drop=("/m/*",)), {"m": {"p": 1, "q": 2}, "z": 0}, {"m": {}, "z": 0}),
    ])
    def test_S10_shape(self, rules: Rules, attributes: dict[str, Any], expected: dict[str, Any]) -> None:
        """S10: keep selects subtrees (wildcards included); drop removes them."""
        assert rules.shape(attributes) == expected

    def test_B13_mask_is_keyed_and_stable(self) -> None:
        """B13: the same value masks the same under one key, differently under another; masking is idempotent."""
        one, two = Rules(redact=("/p",), redaction_key=b"1"), Rules(redact=("/p",), redaction_key=b"2")
        masked = one.shape({"p": SECRET})
        assert masked == one.shape({"p": SECRET}) != two.shape({"p": SECRET})
        assert one.shape(masked) == masked and SECRET not in orjson.dumps(masked).decode()


class TestEmptyEqualsMissing:
    FLAPS = [{"tags": None}, {}, {"tags": []}, {"tags": {}}, {"tags": None, "meta": {"x": None}}]

    def test_B14_default_null_missing_and_empty_differ(self, store: Store, clock: Any) -> None:
        """B14: by default (absent != null != []), each alternation is a real update."""
        run(store, [vm("a", **self.FLAPS[0])], clock, source=source())
        updates = [run(store, [vm("a", **flap)], clock, source=source())[1] for flap in self.FLAPS[1:4]]
        assert [len(u) for u in updates] == [1, 1, 1]

    def test_B14_normalization_on_silences_the_alternation(self, store: Store, clock: Any) -> None:
        """B14: with empty_equals_missing, null, missing, [] and {} (also nested) hash alike: no update storm."""
        src = source(empty_equals_missing=True)
        run(store, [vm("a", **self.FLAPS[0])], clock, source=src)
        updates = [run(store, [vm("a", **flap)], clock, source=src)[1] for flap in self.FLAPS[1:]]
        _, real = run(store, [vm("a", tags=["web"])], clock, source=src)
        assert updates == [[], [], [], []]
        assert [c["path"] for c in real[0]["changes"]] == ["/tags"]


class TestFirstLoadLogged:
    def test_F25_first_load_is_logged_with_its_epoch_even_when_silent(self, store: Store, clock: Any) -> None:
        """F25: a first load under initial_load: silent emits only its marker and logs 'first load for epoch …'."""
        from structlog.testing import capture_logs

        with capture_logs() as first:
            result, notes = run(store, [vm("a")], clock, initial_load="silent")
        epoch = store.epoch("src")
        assert result.status == "ok" and [n["action"] for n in notes] == ["baseline_initialized"]
        logged = [e for e in first if e["event"] == "first_load"]
        assert len(logged) == 1 and f"first load for epoch {epoch}" in logged[0]["note"]
        with capture_logs() as later:
            run(store, [vm("a"), vm("b")], clock, initial_load="silent")
        assert not [e for e in later if e["event"] == "first_load"]
