"""The CloudStack listing as RawPages (issue 16): each buffered answer is decoded by a module-level,
picklable function into exactly the entities the collector mapped itself before, paging edge cases
included (records repeated across pages, relists)."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from baseline.canonical import Rules, merge_ignore
from collectors.base import Entity, EntityType, ListContext, RawPage
from collectors.cloudstack import mapping
from collectors.cloudstack.collector import PLANS, CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.cloudstack.emulator.commands import list_records
from collectors.cloudstack.pages import PageContext, decode_page, summarize
from collectors.cloudstack.types import ALL_TYPES
from collectors.errors import ListingIncomplete
from poller.run.hashing import entity_hash
from tests.collectors.cloudstack.conftest import context, run

Make = Callable[..., CloudStackCollector]
ROOT = Path(__file__).resolve().parents[3]


def oracle(collector: CloudStackCollector, name: str) -> list[Entity]:
    """Every record of ``name`` from one big page per pass, parsed by ``cs`` and mapped with
    ``mapping.to_entities`` over the whole listing, as the collector did before RawPages."""
    plan = PLANS[name]
    records: list[Any] = []
    for params in plan.passes():
        data = collector._client.list_page(name, plan.command, params, 1, 500)
        records.extend(data.get(plan.key) or [])
    return mapping.to_entities(name, records)


def hashed(items: list[Any], etype: EntityType) -> dict[str, tuple[int, str | None]]:
    """key -> (the poller's hash under the type's default rules, updated_at)."""
    rules = Rules(ignore=merge_ignore(etype.volatile, ()), sets=tuple(etype.sets), type_fingerprint=etype.fingerprint)
    return {e.key: (entity_hash(e, rules)[0], e.updated_at) for e in items}


class TestSameEntitiesAsBefore:
    @pytest.mark.parametrize("name", [e.name for e in ALL_TYPES])
    def test_pages_of_two_decode_to_the_old_mapping(self, make_collector: Make, name: str) -> None:
        """Listed in pages of 2, every type gives exactly the entities (same order, same hashes) that one
        big page per pass, mapped in the collector, gives."""
        collector = make_collector(page_size=2)
        listing, items = run(collector, name)
        assert listing.complete, listing.error
        expected = oracle(collector, name)
        assert items == expected
        assert hashed(items, collector.entity_type(name)) == hashed(expected, collector.entity_type(name))
        assert listing.total == len(expected)

    def test_vm_listing_yields_raw_pages(self, make_collector: Make) -> None:
        """The VM listing yields only RawPages (one per page of 2, both passes), no entity built in the collector."""
        collector = make_collector(page_size=2)
        listing = collector.list(collector.entity_type("cloudstack.virtualmachine"), context())
        yielded = list(listing)
        assert listing.complete and listing.total == 6
        assert all(type(item) is RawPage and item.decode is decode_page for item in yielded)
        assert [item.context.page for item in yielded] == ["page 1", "page 2", "page 3",
                                                           "page 1 of the projectid=-1 pass"]

    def test_record_repeated_on_the_next_page_is_taken_once(self, make_collector: Make,
                                                            emulator: CloudStackEmulator) -> None:
        """F09: when page 2 starts with page 1's last record (a shifted window), the record is decoded
        once, from its later copy, at its first place: the same entities in the same order as before."""
        original = emulator.answer

        def shifted(method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
            status, body = original(method, path, params)
            if status == 200 and params.get("command") == "listVirtualMachines" and "projectid" not in params:
                page, size = int(params["page"]), int(params["pagesize"])
                full = list_records(emulator.inventory, "listVirtualMachines", {**params, "page": "1",
                                                                                 "pagesize": "500"}, 500)
                inner = full["listvirtualmachinesresponse"]
                start = 0 if page == 1 else (page - 1) * size - 1
                body = {"listvirtualmachinesresponse": {"count": inner["count"],
                                                         "virtualmachine": inner["virtualmachine"][start:start + size]}}
            return status, body

        emulator.answer = shifted  # type: ignore[method-assign]
        collector = make_collector(page_size=2)
        listing = collector.list(collector.entity_type("cloudstack.virtualmachine"), context())
        pages = list(listing)
        assert listing.complete, listing.error
        assert pages[0].context.keep == (0,)  # page 1's second VM is taken from page 2
        items = [e for page in pages for e in pickle.loads(pickle.dumps(page)).entities()]
        emulator.answer = original  # type: ignore[method-assign]
        assert items == oracle(collector, "cloudstack.virtualmachine")

    def test_relist_after_a_deletion_takes_each_record_once(self, make_collector: Make,
                                                            emulator: CloudStackEmulator) -> None:
        """F12: a VM deleted while paging makes the collector relist; the pages of the relist alone are
        yielded, and decode to the entities of the cloud as it is now."""
        emulator.on_page("listVirtualMachines", 2,
                         lambda inventory: inventory.destroy_vm(inventory.ids("virtualmachine")[0]))
        collector = make_collector(page_size=2)
        listing, items = run(collector, "cloudstack.virtualmachine")
        assert listing.complete, listing.error
        assert items == oracle(collector, "cloudstack.virtualmachine")

    def test_unusual_answer_is_read_whole(self) -> None:
        """An answer whose rows are not all objects is not read by the fast summary (the collector then
        parses it whole and refuses it as before); a usual one is."""
        assert summarize(b'{"listvmsresponse": {"count": 1, "virtualmachine": [1]}}', "virtualmachine", False) is None
        usual = summarize(b'{"r": {"count": 2, "template": [{"id": "a", "zoneid": "z"}, {"id": "a"}]}}',
                          "template", True)
        assert usual is not None and usual.identities == (("a", "z"), ("a", ""))


class TestDecoder:
    def test_raw_page_pickles_by_reference(self, make_collector: Make) -> None:
        """A RawPage pickles with its decoder by module and name, and decodes the same after the round trip."""
        collector = make_collector(page_size=2)
        listing = collector.list(collector.entity_type("cloudstack.virtualmachine"), ListContext(now=context().now))
        page = next(iter(listing))
        blob = pickle.dumps(page)
        assert b"collectors.cloudstack.pages" in blob and b"decode_page" in blob
        assert pickle.loads(blob).entities() == page.entities()

    def test_malformed_json_names_the_page(self) -> None:
        """B01: an answer that is not JSON fails the decode with ListingIncomplete naming type, page and source."""
        page = PageContext("cs1", "cloudstack.virtualmachine", "page 4", "virtualmachine", 1)
        with pytest.raises(ListingIncomplete, match=r"cloudstack\.virtualmachine: page 4 \(source cs1\).*malformed"):
            decode_page(b'{"listvirtualmachinesresponse": {"count": 1, "virtualmachine": [{"id": ', page)

    def test_answer_other_than_paged_is_refused(self) -> None:
        """An answer with another number of rows than the pager saw is refused, naming the page."""
        page = PageContext("cs1", "cloudstack.zone", "page 2", "zone", 2)
        with pytest.raises(ListingIncomplete, match="page 2"):
            decode_page(b'{"listzonesresponse": {"count": 1, "zone": [{"id": "z"}]}}', page)

    def test_unmappable_row_names_the_page(self) -> None:
        """B16: a row the mapping cannot map (a pod without its zone) fails the decode naming the page."""
        page = PageContext("cs1", "cloudstack.pod", "page 1", "pod", 1)
        with pytest.raises(ListingIncomplete, match=r"cloudstack\.pod: page 1 \(source cs1\): row 1"):
            decode_page(b'{"listpodsresponse": {"count": 1, "pod": [{"id": "p", "name": "pod"}]}}', page)


class TestSnapshotHashes:
    def test_poller_snapshot_stores_the_hashes_of_the_old_mapping(self, tmp_path: Path,
                                                                  emulator: CloudStackEmulator) -> None:
        """`poller snapshot` (pages of 2 decoded in the hash workers) stores for every VM and volume the
        hash the collector's old in-process mapping gives under the type's default rules."""
        config = tmp_path / "poller.yaml"
        options = emulator.source_options(page_size=2)
        config.write_text(json.dumps({
            "baseline": {"url": f"sqlite:///{tmp_path / 'baseline.db'}"},
            "sources": [{"name": "cs1", "collector": "cloudstack", "options": options,
                         "entity_types": ["cloudstack.virtualmachine", "cloudstack.volume"]}]}))
        result = subprocess.run([sys.executable, "cli.py", "--config", str(config), "snapshot", "--format", "jsonl"],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(tmp_path / "baseline.db") as db:
            stored = dict(db.execute("SELECT entity_type || ' ' || key, hash FROM poller_entities"))
        collector = CloudStackCollector("cs1", options)
        expected: dict[str, int] = {}
        for name in ("cloudstack.virtualmachine", "cloudstack.volume"):
            etype = collector.entity_type(name)
            expected.update({f"{name} {key}": h for key, (h, _) in hashed(oracle(collector, name), etype).items()})
        collector.close()
        assert stored == expected and len(stored) == 14


class TestRecordDigests:
    """Issue 16: a CloudStack row unchanged byte for byte is not parsed again."""

    @pytest.mark.parametrize("name", [e.name for e in ALL_TYPES if e.name not in mapping.ZONE_FOLDED])
    def test_split_and_parse_give_what_decode_gives(self, make_collector: Make, name: str) -> None:
        """Every page of pages of 2 splits into one row per entity to take, and parsing those rows gives
        exactly the page's decoded entities, in order."""
        collector = make_collector(page_size=2)
        listing = collector.list(collector.entity_type(name), context())
        pages = [item for item in listing if isinstance(item, RawPage)]
        assert listing.complete, listing.error
        for page in pages:
            assert page.split is not None and page.parse is not None
            split = page.split(page.data, page.context)
            assert split is not None
            records, wheres = split
            assert len(records) == (page.context.count if page.context.keep is None else len(page.context.keep))
            assert [item for _, item in page.parse(records, wheres, page.context)] == list(page.entities())

    def test_unusual_answer_is_decoded_whole(self) -> None:
        """An answer of another shape (NaN, which only the stdlib reads) is not split: it is decoded whole."""
        from collectors.cloudstack.pages import split_page

        data = b'{"listzonesresponse": {"count": 1, "zone": [{"id": "z1", "name": "x", "v": NaN}]}}'
        ctx = PageContext("s", "cloudstack.zone", "page 1", "zone", 1)
        assert split_page(data, ctx) is None
        assert [e.key for e in decode_page(data, ctx)] == ["z1"]

    @pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
    def test_unchanged_rows_are_not_parsed_again(self, store: Any, emulator: CloudStackEmulator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """Runs of the real poller against the emulator: the first parses every VM row, an idle one none,
        a renamed VM is parsed alone and is one update."""
        import collectors.cloudstack.collector as collector_module
        from poller.config import SourceConfig
        from tests.conftest import Clock
        from tests.poller.helpers import RecordRuns

        options = emulator.source_options(retry_backoff=0.01, timeout=5, page_size=2)
        name = "cloudstack.virtualmachine"
        source = SourceConfig(name="cs1", collector="cloudstack", options=options, entity_types=(name,))
        runs = RecordRuns(store, Clock(), monkeypatch, collector_module, source,
                          lambda: CloudStackCollector("cs1", options))
        once, parsed = runs.once, runs.parsed
        vms = emulator.inventory.ids("virtualmachine")
        assert len(once()) == len(vms) == parsed.count(name)
        assert once() == [] and parsed == []
        emulator.inventory.update("virtualmachine", vms[0], displayname="web-renamed")
        notes = once()
        assert [(n["action"], n["key"]) for n in notes] == [("update", vms[0])] and parsed == [name]
