"""A page whose body is cut short (the connection closes mid-body) is a page error, never a short page (F03)."""

from __future__ import annotations

from collections.abc import Callable

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from tests.collectors.cloudstack.conftest import run

Make = Callable[..., CloudStackCollector]


class TestTruncatedBody:
    def test_F03_cut_page_is_retried_and_the_listing_completes(self, make_collector: Make,
                                                              emulator: CloudStackEmulator) -> None:
        """F03: page 2 of 4 closes after half its JSON once: it is asked again and every host is listed once."""
        emulator.inject_truncation("listHosts", page=2, times=1)
        listing, hosts = run(make_collector(page_size=3, retries=3), "cloudstack.host")
        asked = [r.page for r in emulator.requests if r.command == "listHosts"]
        assert (listing.complete, len(hosts), len({h.key for h in hosts})) == (True, 10, 10)
        assert asked.count(2) == 2

    def test_F03_always_cut_page_makes_the_listing_incomplete(self, make_collector: Make,
                                                            emulator: CloudStackEmulator) -> None:
        """F03: a page that is cut on every try ends the listing incomplete (so nothing is deleted)."""
        emulator.inject_truncation("listHosts", page=2, times=None)
        listing, _ = run(make_collector(page_size=3, retries=2), "cloudstack.host")
        assert listing.complete is False and listing.error is not None
