"""Fixtures: a started CloudStack emulator holding the demo cloud, and collectors pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.base import Entity, ListContext, Listing
from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from tests.collectors.raw_pages import decoded


@pytest.fixture
def emulator() -> Iterator[CloudStackEmulator]:
    """A running emulator on 127.0.0.1 with the demo cloud seeded."""
    with CloudStackEmulator() as emu:
        emu.seed_demo()
        yield emu


@pytest.fixture
def make_collector(emulator: CloudStackEmulator) -> Iterator[Callable[..., CloudStackCollector]]:
    """Build collectors for the emulator; option overrides as keyword arguments (fast retries by default)."""
    made: list[CloudStackCollector] = []

    def make(**overrides: Any) -> CloudStackCollector:
        options = emulator.source_options(retry_backoff=0.01, timeout=5)
        options.update(overrides)
        collector = CloudStackCollector("cs1", options)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


def context() -> ListContext:
    """A ListContext for a first listing."""
    return ListContext(now=datetime.now(UTC))


def run(collector: CloudStackCollector, type_name: str) -> tuple[Listing, list[Entity]]:
    """List one type to the end; returns the Listing (for complete/error) and its entities."""
    listing = collector.list(collector.entity_type(type_name), context())
    items = [item for item in decoded(listing) if isinstance(item, Entity)]
    return listing, items
