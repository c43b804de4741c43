"""The mass-deletion guard across a whole source: small types emptied together are held (F08)."""

from __future__ import annotations

from typing import Any

from baseline.diff import DeletionPolicy
from baseline.store import Store
from tests.poller.helpers import run


def entities(types: int, per_type: int) -> list[dict[str, Any]]:
    """``per_type`` entities of each of ``types`` types t0, t1, ..."""
    return [{"type": f"t{t}", "key": f"k{t}-{i}", "attributes": {"i": i}} for t in range(types) for i in range(per_type)]


def deletes(notes: list[dict[str, Any]]) -> int:
    return sum(1 for n in notes if n["action"] == "delete")


class TestSourceWideGuard:
    def test_F08_everything_empty_holds_small_types_too(self, store: Store, clock: Any) -> None:
        """F08: five types of five entities each (each below the guard's min_count) all answered empty:
        the 25 deletions are held, nothing is deleted, the run says so."""
        run(store, entities(5, 5), clock)
        result, notes = run(store, [], clock)
        assert deletes(notes) == 0 and result.status == "partial" and result.held == 25

    def test_F08_allow_mass_delete_releases_them(self, store: Store, clock: Any) -> None:
        """F08: --allow-mass-delete lets the same 25 deletions through."""
        run(store, entities(5, 5), clock)
        _, notes = run(store, [], clock, deletion=DeletionPolicy(allow_mass_delete=True))
        assert deletes(notes) == 25

    def test_F08_one_small_type_gone_from_a_large_source_deletes_normally(self, store: Store, clock: Any) -> None:
        """F08: a small type emptied while the rest of the source is there is a normal deletion."""
        big = [{"type": "big", "key": f"b{i}"} for i in range(50)]
        run(store, big + entities(1, 3), clock)
        result, notes = run(store, big, clock)
        assert deletes(notes) == 3 and result.status == "ok"
