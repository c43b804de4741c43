"""The OpenStack listing as RawPages (issue 16): each page's body is decoded by a module-level, picklable
function into exactly the entities the collector mapped itself before, across paging edge cases."""

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
from collectors.base import Entity, EntityType, Gone, ListContext, RawPage
from collectors.errors import ListingIncomplete
from collectors.openstack.collector import QUERIES, OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.mapping import MAPPERS, server_entity
from collectors.openstack.pages import PageContext, decode_page, summarize
from poller.run.hashing import entity_hash
from tests.collectors.openstack.conftest import now, run

Make = Callable[..., OpenStackCollector]
ROOT = Path(__file__).resolve().parents[3]
PAGED_TYPES = sorted(name for name in QUERIES if name != "placement.resource_provider")


def oracle(collector: OpenStackCollector, name: str) -> list[Entity]:
    """Every record of ``name`` from one unpaged GET, parsed by the stdlib json and mapped as the
    collector did before RawPages (record -> MAPPERS / server_entity with the hypervisor map)."""
    query = QUERIES[name]
    client = collector.client
    proxy = client.proxy(query.service, "oracle")
    params = {**query.params, "limit": "1000"} if query.paged else dict(query.params)
    status, data = client.get_raw(proxy, query.path, params, query.microversion, "oracle")
    assert status == 200 and data is not None
    records = json.loads(data)[query.key]
    if name == "compute.server":
        hosts = collector._hypervisor_hosts()
        return [server_entity(raw, hosts) for raw in records]
    return [MAPPERS[name](raw) for raw in records]


def hashed(items: list[Any], etype: EntityType) -> dict[str, tuple[int, str | None]]:
    """key -> (the poller's hash under the type's default rules, updated_at): the emulator shuffles
    the lists the type declares as sets from one answer to the next, which the hash ignores."""
    rules = Rules(ignore=merge_ignore(etype.volatile, ()), sets=tuple(etype.sets), type_fingerprint=etype.fingerprint)
    return {e.key: (entity_hash(e, rules)[0], e.updated_at) for e in items}


class TestSameEntitiesAsBefore:
    @pytest.mark.parametrize("name", PAGED_TYPES)
    def test_pages_of_two_decode_to_the_old_mapping(self, make_collector: Make, name: str) -> None:
        """Listed in pages of 2 and decoded page by page, every type gives exactly the entities one
        unpaged answer mapped in the collector gives (the emulator orders an unpaged answer its own way)."""
        collector = make_collector(page_size=2)
        listing, items = run(collector, name)
        assert listing.complete, listing.error
        keys = [e.key for e in items]
        assert len(keys) == len(set(keys))
        etype = collector.entity_type(name)
        assert hashed(items, etype) == hashed(oracle(collector, name), etype)

    def test_listing_yields_one_raw_page_per_page(self, make_collector: Make) -> None:
        """The server listing yields RawPages only (one per page of 1), no entity built in the collector."""
        collector = make_collector(page_size=1)
        listing = collector.list(collector.entity_type("compute.server"), ListContext(now=now()))
        yielded = list(listing)
        assert listing.complete and len(yielded) == 4
        assert all(type(item) is RawPage and item.decode is decode_page for item in yielded)
        assert [item.context.page for item in yielded] == [1, 2, 3, 4]

    def test_vanished_marker_relist_takes_each_record_once(self, emulator: OpenStackEmulator,
                                                           make_collector: Make) -> None:
        """F11: after a vanished marker the relist's pages decode only records no earlier pass yielded."""
        collector = make_collector(page_size=2)

        def delete_marker(req: Any) -> None:
            emulator.cloud.delete("compute.server", req.arg("marker"))
        emulator.inject(r"/servers/detail", query="marker=", call=delete_marker)
        listing, items = run(collector, "compute.server")
        assert listing.complete, listing.error
        keys = [e.key for e in items]
        assert len(keys) == len(set(keys)) == 4
        etype = collector.entity_type("compute.server")
        alive = hashed(oracle(collector, "compute.server"), etype)
        assert {k: v for k, v in hashed(items, etype).items() if k in alive} == alive

    def test_delta_pages_decode_gone_and_servers(self, emulator: OpenStackEmulator, make_collector: Make,
                                                 clock: Any) -> None:
        """A changes-since page decodes a DELETED server to Gone and a changed one to its entity."""
        collector = make_collector(page_size=1, full_every=100)
        started = clock()
        clock.advance(3600)
        servers = emulator.cloud.all("compute.server")
        emulator.cloud.update("compute.server", servers[0]["id"], name="renamed")
        emulator.cloud.delete("compute.server", servers[1]["id"])
        context = ListContext(now=clock(), last_listed_at=started, last_full_at=started)
        listing, items = run(collector, "compute.server", context)
        assert listing.complete and listing.delta
        assert Gone("compute.server", servers[1]["id"]) in items
        renamed = [e for e in items if isinstance(e, Entity) and e.key == servers[0]["id"]]
        assert [e.name for e in renamed] == ["renamed"]
        etype = collector.entity_type("compute.server")
        expected = [e for e in oracle(collector, "compute.server") if e.key == servers[0]["id"]]
        assert hashed(renamed, etype) == hashed(expected, etype)

    def test_unusual_pages_are_read_whole(self) -> None:
        """Keypairs come wrapped and NaN is JSON only to the stdlib: the pager's fast read refuses
        them (they are then parsed whole), and the decoder reads them as requests' json did."""
        from collectors.openstack.pages import Unusual

        wrapped = b'{"keypairs": [{"keypair": {"name": "k1", "fingerprint": "f"}}]}'
        with pytest.raises(Unusual):
            summarize(wrapped, "keypairs", "name")
        entities = decode_page(wrapped, PageContext("s", "compute.keypair", 1, "keypairs", "name", 1))
        assert [e.key for e in entities] == ["k1"]
        nan = b'{"flavors": [{"id": "f1", "name": "x", "rxtx_factor": NaN, "big": 123456789012345678901234567890}]}'
        flavor = decode_page(nan, PageContext("s", "compute.flavor", 1, "flavors", "id", 1))[0]
        assert flavor == MAPPERS["compute.flavor"](json.loads(nan)["flavors"][0])


class TestDecoder:
    def test_raw_page_pickles_by_reference(self, make_collector: Make) -> None:
        """A RawPage pickles with its decoder by module and name, and decodes the same after the round trip."""
        collector = make_collector(page_size=2)
        listing = collector.list(collector.entity_type("compute.server"), ListContext(now=now()))
        page = next(iter(listing))
        blob = pickle.dumps(page)
        assert b"collectors.openstack.pages" in blob and b"decode_page" in blob
        assert pickle.loads(blob).entities() == page.entities()

    def test_malformed_json_names_the_page(self) -> None:
        """B01: a body that is not JSON fails the decode with ListingIncomplete naming source, type and page."""
        context = PageContext("os-test", "compute.server", 7, "servers", "id", 1)
        with pytest.raises(ListingIncomplete, match=r"'os-test'.*page 7 of compute\.server.*malformed JSON"):
            decode_page(b'{"servers": [{"id": "a", "name": ', context)

    def test_page_other_than_paged_is_refused(self) -> None:
        """A body with another number of records than the pager saw is refused, naming the page."""
        context = PageContext("os-test", "network.port", 3, "ports", "id", 2)
        with pytest.raises(ListingIncomplete, match="page 3 of network.port holds 1 records where 2"):
            decode_page(b'{"ports": [{"id": "p1"}]}', context)

    def test_unmappable_record_names_the_page(self) -> None:
        """B16: a record the mapping cannot map (no id on a server) fails the decode naming the page."""
        context = PageContext("os-test", "compute.server", 2, "servers", "uuid", 1)
        with pytest.raises(ListingIncomplete, match="page 2 of compute.server"):
            decode_page(b'{"servers": [{"uuid": "x", "name": "n"}]}', context)

    def test_malformed_page_from_the_api_fails_the_listing(self, emulator: OpenStackEmulator,
                                                           make_collector: Make) -> None:
        """B01: a page 2 whose JSON is cut makes the listing incomplete, naming page 2 (the emulator cannot
        send a malformed 200 body, so the client's answer is cut in-process)."""
        collector = make_collector(page_size=2)
        original = collector.client.get_raw

        def get_raw(*args: Any) -> tuple[int, bytes | None]:
            status, data = original(*args)
            return (status, b'{"servers": [{"id": ') if args[-1] == "listing compute.server page 2" else (status, data)
        collector.client.get_raw = get_raw  # type: ignore[method-assign]
        listing, items = run(collector, "compute.server")
        assert listing.complete is False and "page 2" in str(listing.error)
        assert len(items) == 2


class TestSnapshotHashes:
    def test_poller_snapshot_stores_the_hashes_of_the_old_mapping(self, tmp_path: Path,
                                                                  emulator: OpenStackEmulator) -> None:
        """`poller snapshot` (pages of 2 decoded in the hash workers) stores for every server and port the
        hash the collector's old in-process mapping gives under the type's default rules."""
        config = tmp_path / "poller.yaml"
        options = emulator.source_options(page_size=2)
        names = ("compute.server", "network.port")
        config.write_text(json.dumps({
            "baseline": {"url": f"sqlite:///{tmp_path / 'baseline.db'}"},
            "sources": [{"name": "os-test", "collector": "openstack", "options": options, "entity_types": names}]}))
        result = subprocess.run([sys.executable, "cli.py", "--config", str(config), "snapshot", "--format", "jsonl"],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(tmp_path / "baseline.db") as db:
            stored = dict(db.execute("SELECT entity_type || ' ' || key, hash FROM poller_entities"))
        collector = OpenStackCollector("os-test", options)
        expected: dict[str, int] = {}
        for name in names:
            etype = collector.entity_type(name)
            expected.update({f"{name} {key}": h for key, (h, _) in hashed(oracle(collector, name), etype).items()})
        collector.close()
        assert stored == expected and len(stored) > 4


def split_pages(collector: OpenStackCollector, name: str, context: ListContext | None = None) -> list[RawPage]:
    """The RawPages of one listing (iterated to its end)."""
    listing = collector.list(collector.entity_type(name), context or ListContext(now=now()))
    pages = [item for item in listing if isinstance(item, RawPage)]
    assert listing.complete, listing.error
    return pages


def parsed_items(page: RawPage) -> list[Any]:
    """A page's items read the raw-record way: parse applied to split."""
    assert page.split is not None and page.parse is not None
    split = page.split(page.data, page.context)
    assert split is not None
    records, wheres = split
    return [item for _, item in page.parse(records, wheres, page.context)]


class TestRecordDigests:
    """Issue 16: an API record unchanged byte for byte (with what its entity depends on) is not parsed again."""

    @pytest.mark.parametrize("name", PAGED_TYPES)
    def test_split_and_parse_give_what_decode_gives(self, make_collector: Make, name: str) -> None:
        """Every page the pager read fast splits into one record per entity to take, and parsing those
        records gives exactly the page's decoded entities, in order."""
        pages = split_pages(make_collector(page_size=2), name)
        splittable = [page for page in pages if page.split is not None]
        # Keypairs come wrapped (read whole, decoded whole); a type the demo cloud has none of has no page.
        assert splittable or name == "compute.keypair" or not pages
        for page in splittable:
            assert parsed_items(page) == list(page.entities())

    def test_delta_page_records_of_deleted_servers_differ_from_live_ones(self, emulator: OpenStackEmulator,
                                                                        make_collector: Make, clock: Any) -> None:
        """In a changes-since page a DELETED server parses to Gone, and its record's bytes carry that, so a
        stored digest of a live record can never stand for it."""
        collector = make_collector(page_size=10, full_every=100)
        started = clock()
        clock.advance(3600)
        servers = emulator.cloud.all("compute.server")
        emulator.cloud.delete("compute.server", servers[1]["id"])
        context = ListContext(now=clock(), last_listed_at=started, last_full_at=started)
        (page,) = split_pages(collector, "compute.server", context)
        items = parsed_items(page)
        assert items == list(page.entities()) and Gone("compute.server", servers[1]["id"]) in items
        records, _ = page.split(page.data, page.context)  # type: ignore[misc]
        assert [r.endswith(b"\x00deleted") for r in records] == [isinstance(i, Gone) for i in items]

    def test_a_servers_record_carries_its_hypervisor(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """The same server bytes under another hostname -> hypervisor map are another record: the parent the
        mapping reads from the map is part of what is hashed."""
        (page,) = split_pages(make_collector(page_size=10), "compute.server")
        records, _ = page.split(page.data, page.context)  # type: ignore[misc]
        assert page.context.hosts
        orphaned = RawPage(page.decode, page.data, PageContext(**{
            **{f: getattr(page.context, f) for f in page.context.__dataclass_fields__}, "hosts": {}}),
            page.split, page.parse)
        others, _ = orphaned.split(orphaned.data, orphaned.context)  # type: ignore[misc]
        with_parent = [i for i, e in enumerate(page.entities()) if e.parent is not None]  # type: ignore[union-attr]
        assert with_parent and all(records[i] != others[i] for i in with_parent)
        assert all(e.parent is None for e in parsed_items(orphaned))

    @pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
    def test_unchanged_records_are_not_parsed_again(self, store: Any, emulator: OpenStackEmulator, clock: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """Runs of the real poller against the emulator (full listings): the first parses every server, an
        idle one none, a changed server is parsed alone and is one update, and a server whose hypervisor
        disappeared is parsed again, although its record did not change, and loses its parent."""
        import collectors.openstack.collector as collector_module
        from poller.config import SourceConfig
        from tests.poller.helpers import RecordRuns

        options = emulator.source_options(page_size=2, full_every=1)
        source = SourceConfig(name="os-test", collector="openstack", options=options, entity_types=("compute.server",))
        runs = RecordRuns(store, clock, monkeypatch, collector_module, source,
                          lambda: OpenStackCollector("os-test", options))
        once, parsed = runs.once, runs.parsed
        servers = emulator.cloud.all("compute.server")
        assert len(once()) == len(servers) == parsed.count("compute.server")
        clock.advance(60)
        assert once() == [] and parsed == []
        clock.advance(60)
        emulator.cloud.update("compute.server", servers[0]["id"], name="renamed")
        notes = once()
        assert [(n["action"], n["key"]) for n in notes] == [("update", servers[0]["id"])] and len(parsed) == 1
        clock.advance(60)
        host = next(s["OS-EXT-SRV-ATTR:hypervisor_hostname"] for s in servers)
        on_host = {s["id"] for s in servers if s["OS-EXT-SRV-ATTR:hypervisor_hostname"] == host}
        hypervisor = next(h for h in emulator.cloud.all("compute.hypervisor") if h["hypervisor_hostname"] == host)
        emulator.cloud.delete("compute.hypervisor", str(hypervisor["id"]))
        notes = once()
        assert {n["key"] for n in notes} == on_host and len(parsed) == len(on_host)
        assert all(n["action"] == "update" and n["parent"] is None for n in notes)
