"""Fixtures for the OpenStack collector tests: a seeded emulator on 127.0.0.1 and helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from collectors.base import Entity, EntityType, Gone, ListContext, Listing
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.raw_pages import decoded


class Clock:
    """A settable clock for the emulator: real time plus an offset tests can move."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[OpenStackEmulator]:
    with OpenStackEmulator(clock=clock) as emu:
        emu.seed_demo()
        yield emu


@pytest.fixture
def make_collector(emulator: OpenStackEmulator) -> Iterator[Callable[..., OpenStackCollector]]:
    made: list[OpenStackCollector] = []

    def make(**options: Any) -> OpenStackCollector:
        collector = OpenStackCollector("os-test", emulator.source_options(**options))
        made.append(collector)
        return collector
    yield make
    for collector in made:
        collector.close()


def now() -> datetime:
    return datetime.now(UTC)


def run(collector: OpenStackCollector, name: str, context: ListContext | None = None) -> tuple[Listing, list[Any]]:
    """List one type; returns the Listing (after iteration) and its items."""
    listing = collector.list(collector.entity_type(name), context or ListContext(now=now()))
    items = list(decoded(listing))
    return listing, items


def _apply(value: Any, segments: list[str], leaf: Callable[[Any, Any], None]) -> None:
    if not segments:
        return
    head, rest = segments[0], segments[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else ([head] if head in value else [])
    elif isinstance(value, list):
        index = int(head) if head.isdigit() else len(value)
        keys = list(range(len(value))) if head == "*" else ([index] if index < len(value) else [])
    else:
        return
    for k in keys:
        if rest:
            _apply(value[k], rest, leaf)
        else:
            leaf(value, k)


def normalized(etype: EntityType, entity: Entity) -> dict[str, Any]:
    """What the baseline would hash: volatile fields removed, declared sets sorted (as DESIGN.md says)."""
    attributes = copy.deepcopy(dict(entity.attributes))
    for pattern in etype.volatile:
        _apply(attributes, pattern[1:].split("/"), lambda c, k: c.__delitem__(k))

    def sort(container: Any, k: Any) -> None:
        if isinstance(container[k], list):
            container[k] = sorted(container[k], key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
    for pattern in sorted(etype.sets, key=lambda p: -p.count("/")):
        _apply(attributes, pattern[1:].split("/"), sort)
    return {"name": entity.name, "parent": entity.parent, "state": entity.state, "project": entity.project,
            "attributes": attributes}


def apply_listing(baseline: dict[str, dict[str, Any]], etype: EntityType, listing: Listing,
                  items: list[Any]) -> dict[str, dict[str, Any]]:
    """Apply a listing to a key -> normalized-entity map as the poller does (delta or full)."""
    assert listing.complete, listing.error
    if listing.delta:
        out = dict(baseline)
        for item in items:
            if isinstance(item, Gone):
                out.pop(item.key, None)
            else:
                out[item.key] = normalized(etype, item)
        return out
    return {item.key: normalized(etype, item) for item in items}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """openstacksdk warns about its own internals (InfluxDB, service_type); nothing a user can act on."""
    for item in items:
        if "collectors/openstack" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack"))
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"))
