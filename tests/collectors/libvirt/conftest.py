"""Fixtures for the libvirt collector tests: a private copy of the test-driver node and helpers to list it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from baseline.canonical import Rules
from collectors.base import Entity, EntityType, ListContext, Listing
from collectors.libvirt import LibvirtCollector

DATA = Path(__file__).parent / "data"


class Node:
    """A copy of data/node.xml that a test may rewrite between listings (the test driver re-reads it per connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def uri(self) -> str:
        """The test-driver URI of this node file."""
        return f"test://{self.path}"

    def replace(self, old: str, new: str) -> None:
        """Rewrite the node file, replacing exactly one occurrence of ``old``."""
        text = self.path.read_text()
        assert text.count(old) == 1, f"expected exactly one {old!r} in the node file"
        self.path.write_text(text.replace(old, new))

    def collector(self, **options: Any) -> LibvirtCollector:
        """A collector for this node (a fresh one, as the poller builds per run)."""
        return LibvirtCollector("lv1", {"uri": self.uri, **options})


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """A private copy of the test node."""
    target = tmp_path / "node.xml"
    shutil.copyfile(DATA / "node.xml", target)
    return Node(target)


def run_listing(collector: LibvirtCollector, type_name: str) -> tuple[Listing, dict[str, Entity]]:
    """List one type to its end; return the Listing and its entities by key."""
    listing = collector.list(collector.entity_type(type_name), ListContext(now=datetime.now(UTC)))
    entities = {}
    for item in listing:
        assert isinstance(item, Entity)
        assert item.key not in entities, f"duplicate key {item.key}"
        entities[item.key] = item
    return listing, entities


def listed(collector: LibvirtCollector, type_name: str) -> dict[str, Entity]:
    """The entities of one complete listing, by key (fails the test if the listing was not complete)."""
    listing, entities = run_listing(collector, type_name)
    assert listing.complete, f"{type_name} listing incomplete: {listing.error}"
    return entities


def hashed_view(entity: Entity, etype: EntityType) -> dict[str, Any]:
    """What the core hashes: name, parent, state, project and attributes minus the type's volatile paths.

    Uses the core's own hashing rules (baseline.canonical.Rules), so these tests check what is really hashed.
    """
    return {
        "name": entity.name,
        "parent": entity.parent,
        "state": entity.state,
        "project": entity.project,
        "attributes": Rules(ignore=etype.volatile, sets=etype.sets).normalize(entity.attributes),
    }
