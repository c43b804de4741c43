"""A page whose body is cut short (the connection closes mid-body) is a page error, never a short page (F03)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.errors import CollectorError, ListingIncomplete
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.openstack.conftest import run

Make = Callable[..., OpenStackCollector]


def listed(make_collector: Make, **options: Any) -> tuple[bool, list[str], BaseException | None]:
    """List servers to the end: (complete, keys, error); a source-wide error counts as incomplete."""
    try:
        listing, items = run(make_collector(**options), "compute.server")
    except CollectorError as exc:
        return False, [], exc
    return listing.complete, [i.key for i in items], listing.error


class TestTruncatedBody:
    def test_F03_cut_page_never_becomes_a_short_page(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F03: page 2 closes after half its JSON: either it is asked again and every server is listed
        exactly once, or the listing is incomplete — never complete with servers missing."""
        everything = listed(make_collector, page_size=1)[1]
        emulator.inject(r"/servers/detail", truncate=True, skip=1, times=1)
        complete, keys, error = listed(make_collector, page_size=1)
        if complete:
            assert sorted(keys) == sorted(everything) and len(set(keys)) == len(keys)
        else:
            assert error is not None

    def test_F03_always_cut_page_is_incomplete(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F03: a page cut on every try ends the listing incomplete (so nothing is deleted)."""
        emulator.inject(r"/servers/detail", truncate=True, skip=1, times=None)
        complete, _, error = listed(make_collector, page_size=1)
        assert complete is False and isinstance(error, ListingIncomplete), "a page error, not a source-wide one"
        assert "cut off mid-body" in str(error)
