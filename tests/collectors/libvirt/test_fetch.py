"""fetch(): re-reading one domain (or the host) from the test driver."""

from __future__ import annotations

import pytest

from collectors.errors import TypeUnavailable

from .conftest import Node, listed
from .test_listing import WEB1


class TestFetch:
    def test_fetch_domain_equals_listed(self, node: Node) -> None:
        """A fetched domain is the same entity the listing yields."""
        collector = node.collector()
        assert collector.fetch(collector.entity_type("libvirt.domain"), WEB1) == listed(collector, "libvirt.domain")[WEB1]

    def test_fetch_unknown_domain_is_none(self, node: Node) -> None:
        """A UUID libvirt does not know answers None (gone)."""
        collector = node.collector()
        assert collector.fetch(collector.entity_type("libvirt.domain"), "6b1b1b7e-0000-4000-8000-0000000000ff") is None

    def test_fetch_malformed_uuid_is_none(self, node: Node) -> None:
        """A key that cannot be a UUID answers None."""
        collector = node.collector()
        assert collector.fetch(collector.entity_type("libvirt.domain"), "not-a-uuid") is None

    def test_fetch_deleted_domain_is_none(self, node: Node) -> None:
        """A domain removed from the node fetches as None."""
        collector = node.collector()
        node.replace(f"<uuid>{WEB1}</uuid>", "<uuid>6b1b1b7e-0000-4000-8000-000000000007</uuid>")
        assert collector.fetch(collector.entity_type("libvirt.domain"), WEB1) is None

    def test_fetch_host(self, node: Node) -> None:
        """The host fetches by its hostname."""
        collector = node.collector()
        (host_key,) = listed(collector, "libvirt.host")
        fetched = collector.fetch(collector.entity_type("libvirt.host"), host_key)
        assert fetched is not None and fetched.key == host_key

    def test_other_types_cannot_fetch(self, node: Node) -> None:
        """Types without single-entity fetch say so with TypeUnavailable."""
        collector = node.collector()
        with pytest.raises(TypeUnavailable):
            collector.fetch(collector.entity_type("libvirt.network"), "x")
