"""The hash pool (issue 16): forked workers give what one process gives, in order; a dead worker
fails the listing, never the baseline; an unchanged line is not parsed again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import collectors.static as static
from baseline.diff import DeletionPolicy
from collectors.base import Collector, Entity, EntityType, ListContext, Listing, RawPage
from collectors.static import StaticCollector
from poller.config import SourceConfig
from tests.poller.helpers import run

PARENT = os.getpid()


class Paged(StaticCollector):
    """Pages of 2 KB, so a few hundred entities make many pages (and a pool)."""

    page_bytes = 2048


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def servers(n: int, generation: dict[int, int] | None = None) -> list[dict[str, Any]]:
    generation = generation or {}
    return [{"type": "vm", "key": f"vm-{i:04d}", "name": f"n{i}", "state": "ACTIVE",
             "attributes": {"i": i, "gen": generation.get(i, 0), "tags": ["a", "b"]}} for i in range(n)]


def snapshot(store: Any, clock: Any, path: Path, workers: int, **settings: Any) -> tuple[Any, list[dict[str, Any]]]:
    source = SourceConfig(name="src", collector="static", options={"path": str(path)})
    return run(store, [], clock, source=source, collector=Paged("src", {"path": str(path)}), hash_workers=workers,
               **settings)


def essence(notes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(n["action"], n["key"], n["hash"], json.dumps(n.get("changes"), sort_keys=True)) for n in notes]


class TestPool:
    def test_two_workers_give_what_one_process_gives(self, store: Any, clock: Any, tmp_path: Path) -> None:
        """Forked workers: the same notifications, in the listing's order, as hashing everything in one process."""
        from baseline.store import open_store

        other = open_store(f"sqlite:///{tmp_path / 'one.db'}")
        path = tmp_path / "inv.jsonl"
        results = {}
        for label, target, workers in (("pool", store, 2), ("one", other, 1)):
            write(path, servers(400))
            first, created = snapshot(target, clock, path, workers)
            write(path, [s for s in servers(420, {7: 1, 250: 2}) if s["key"] != "vm-0100"])
            second, changed = snapshot(target, clock, path, workers)
            results[label] = (essence(created), essence(changed))
            assert first.status == second.status == "ok"
        assert results["pool"] == results["one"]
        created, changed = results["pool"]
        assert [k for _, k, _, _ in created] == [f"vm-{i:04d}" for i in range(400)]
        assert sorted((a, k) for a, k, _, _ in changed) == sorted(
            [("update", "vm-0007"), ("update", "vm-0250"), ("delete", "vm-0100")]
            + [("create", f"vm-{i:04d}") for i in range(400, 420)])

    def test_a_dead_worker_fails_the_listing_and_deletes_nothing(self, store: Any, clock: Any) -> None:
        """A worker killed mid-listing (as the OOM killer would) makes the type incomplete: nothing is deleted."""
        first, _ = run(store, [], clock, collector=Dying("src", {}, die=False), hash_workers=2)
        assert first.status == "ok" and first.count("created") == 300
        result, notes = run(store, [], clock, collector=Dying("src", {}, die=True), hash_workers=2,
                            deletion=DeletionPolicy(allow_mass_delete=True))
        assert result.status == "failed" and "hash worker died" in (result.error or "")
        assert notes == [] and store.counts("src")[("src", "vm")] == 300


class Dying(Collector):
    """Lists 300 vms in 10 RawPages; with ``die``, the page decoded in a worker kills that worker."""

    name = "dying"
    entity_types = (EntityType("vm"),)

    def __init__(self, source: str, options: dict[str, Any], *, die: bool) -> None:
        super().__init__(source, options)
        self.die = die

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        return Listing(etype.name, self._pages())

    def _pages(self) -> Iterator[RawPage]:
        for page in range(10):
            yield RawPage(decode_or_die, json.dumps([page, self.die]).encode())


def decode_or_die(data: bytes, context: Any) -> list[Entity]:
    """Module-level (picklable) decoder of the Dying collector's pages."""
    page, die = json.loads(data)
    if die and page == 5 and os.getpid() != PARENT:
        os._exit(9)  # noqa: SLF001 - a worker dying without a word, like a kill -9
    return [Entity("vm", f"vm-{page * 30 + i}", attributes={"n": i}) for i in range(30)]


class TestRawRecordDigests:
    def test_unchanged_lines_are_not_parsed_again(self, store: Any, clock: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """The second snapshot parses only the lines that changed; a line rewritten with its keys in another
        order is parsed once, notifies nothing, and is not parsed the time after."""
        parsed: list[int] = []
        real = static.parse_jsonl_records

        def counting(records: list[bytes], wheres: list[int], where: Any) -> Any:
            parsed.append(len(records))
            return real(records, wheres, where)

        monkeypatch.setattr(static, "parse_jsonl_records", counting)
        path = tmp_path / "inv.jsonl"
        write(path, servers(200))
        snapshot(store, clock, path, 1)
        assert sum(parsed) == 200
        parsed.clear()
        records = servers(200, {3: 1})
        records[9] = {"attributes": records[9]["attributes"], **{k: v for k, v in records[9].items() if k != "attributes"}}
        write(path, records)
        result, notes = snapshot(store, clock, path, 1)
        assert sum(parsed) == 2 and [(n["action"], n["key"]) for n in notes] == [("update", "vm-0003")]
        parsed.clear()
        result, notes = snapshot(store, clock, path, 1)
        assert sum(parsed) == 0 and notes == [] and result.count("listed") == 200

    def test_changed_rules_parse_everything_once(self, store: Any, clock: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """Digests stand for hashes only under the rules they were stored with: a new ignore rule parses every
        line again (and re-hashes without notifying)."""
        parsed: list[int] = []
        real = static.parse_jsonl_records
        monkeypatch.setattr(static, "parse_jsonl_records",
                            lambda r, w, where: parsed.append(len(r)) or real(r, w, where))
        path = tmp_path / "inv.jsonl"
        write(path, servers(50))
        snapshot(store, clock, path, 1)
        parsed.clear()
        source = SourceConfig(name="src", collector="static", options={"path": str(path)},
                              ignore_fields={"vm": ("/tags",)})
        result, notes = run(store, [], clock, source=source, collector=Paged("src", {"path": str(path)}), hash_workers=1)
        assert sum(parsed) == 50 and result.status == "ok" and notes == []


class TestRepeatedKeys:
    def test_a_created_key_listed_twice_alike_is_created_once(self, store: Any, clock: Any, tmp_path: Path) -> None:
        """The same new record on two pages (on either side of a page boundary) is one creation and a duplicate
        warning; the same key with other contents fails the listing and commits nothing."""
        path = tmp_path / "inv.jsonl"
        records = servers(60)
        write(path, [*records, records[5]])
        result, notes = snapshot(store, clock, path, 2)
        assert result.status == "ok" and result.types[0].duplicates == 1
        assert sorted(n["key"] for n in notes) == sorted(r["key"] for r in records)
        other = {**records[7], "attributes": {"i": -1}}
        write(path, [*servers(70), other])
        result, notes = snapshot(store, clock, path, 2)
        assert result.status == "failed" and "vm-0007 listed twice with different contents" in (result.error or "")
        assert notes == [] and store.counts("src")[("src", "vm")] == 60
