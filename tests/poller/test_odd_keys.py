"""Entity keys as the clouds send them: Unicode forms, SQL-ish text, long keys, NUL (B07, S06)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from baseline.store import Store
from tests.poller.helpers import run, vm

NFC = unicodedata.normalize("NFC", "caf\u00e9")
NFD = unicodedata.normalize("NFD", "caf\u00e9")
UNICODE_KEYS = [NFC, NFD, "vm-\U0001f680", "a\u200db", "x\u202ey", "VM1", "vm1"]
ODD_KEYS = ["'; DROP TABLE baseline;--", "%", "_", "\\", "a%b_c\\d", "k" * 512, "\U0001f680" * 512, "\"quoted\""]


def keys_of(notes: list[dict[str, Any]]) -> list[str]:
    return sorted(n["key"] for n in notes)


class TestKeys:
    def test_B07_unicode_keys_are_distinct_and_byte_exact(self, store: Store, clock: Any) -> None:
        """B07: NFC and NFD é, astral, ZWJ, RTL override and case-only keys are 7 entities, unchanged, idle next run."""
        result, notes = run(store, [vm(k) for k in UNICODE_KEYS], clock)
        assert result.status == "ok" and keys_of(notes) == sorted(UNICODE_KEYS)
        again, idle = run(store, [vm(k) for k in UNICODE_KEYS], clock)
        assert again.status == "ok" and idle == []
        _, gone = run(store, [vm(k) for k in UNICODE_KEYS if k != NFD], clock)
        assert [(n["action"], n["key"]) for n in gone] == [("delete", NFD)]

    def test_S06_sql_ish_and_long_keys_round_trip(self, store: Store, clock: Any) -> None:
        """S06: quotes, LIKE wildcards, backslashes and 512-character keys (2 KB of UTF-8) are stored verbatim."""
        result, notes = run(store, [vm(k) for k in ODD_KEYS], clock)
        assert result.status == "ok" and keys_of(notes) == sorted(ODD_KEYS)
        _, updated = run(store, [vm(k, **({"size": 2} if k == "%" else {})) for k in ODD_KEYS], clock)
        assert [(n["action"], n["key"]) for n in updated] == [("update", "%")]
        _, deleted = run(store, [vm(k, **({"size": 2} if k == "%" else {})) for k in ODD_KEYS if k != "_"], clock)
        assert [(n["action"], n["key"]) for n in deleted] == [("delete", "_")]

    @pytest.mark.parametrize("field", ["key", "name"])
    def test_S06_nul_is_refused_the_same_on_both_backends(self, store: Store, clock: Any, field: str) -> None:
        """S06: a NUL in a key or name (PostgreSQL text cannot hold it) is refused alike on SQLite and PostgreSQL."""
        bad = vm("bad")
        bad[field] = "bad\x00nul"
        result, notes = run(store, [vm("good"), bad], clock)
        assert result.status == "failed" and notes == []  # the only type failed
        assert "NUL character" in (result.types[0].error or "") and field in (result.types[0].error or "")
        _, later = run(store, [vm("good")], clock)
        assert [(n["action"], n["key"]) for n in later] == [("create", "good")]

    def test_S06_longer_keys_are_refused_alike(self, store: Store, clock: Any) -> None:
        """S06: a 4 KB key is refused on both backends with its length named (PostgreSQL's index cannot hold it)."""
        result, notes = run(store, [vm("good"), vm("k" * 4096)], clock)
        assert result.status == "failed" and notes == []
        assert "4096 characters long, more than the 512" in (result.types[0].error or "")
