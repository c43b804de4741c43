"""Answers of the wrong shape are page errors, named; never an empty or odd listing (B15)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from tests.collectors.cloudstack.conftest import run

Make = Callable[..., CloudStackCollector]
RESPONSE = "listhostsresponse"


class TestWrongShapes:
    @pytest.mark.parametrize(("inner", "said"), [
        ({"count": 1, "host": {"id": "h-1"}}, "expected a list at host, got an object"),
        ({"count": 2, "host": ["h-1", "h-2"]}, "expected objects in the list at host, got a string"),
        ({"count": "many", "host": []}, "count that is not a number"),
    ])
    def test_B15_wrong_shape_is_an_incomplete_listing_naming_it(self, make_collector: Make, emulator: CloudStackEmulator,
                                                                inner: dict[str, Any], said: str) -> None:
        """B15: an object where the list belongs, a list of strings, a count that is no number: incomplete, named."""
        emulator.inject_body("listHosts", {RESPONSE: inner}, times=None)
        listing, hosts = run(make_collector(retries=0), "cloudstack.host")
        assert listing.complete is False and hosts == []
        assert said in str(listing.error)

    def test_B15_list_under_an_unexpected_key_does_not_pass_as_empty(self, make_collector: Make,
                                                                   emulator: CloudStackEmulator) -> None:
        """B15: a count of 10 with the list under another key is inconsistent, not an empty type."""
        emulator.inject_body("listHosts", {RESPONSE: {"count": 10, "hosts": [{"id": "h"}]}}, times=None)
        listing, _ = run(make_collector(retries=0), "cloudstack.host")
        assert listing.complete is False

    def test_B15_count_as_a_string_is_cast(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """B15: count "10" (a string) is read as 10 and the listing completes."""
        listing, hosts = run(make_collector(), "cloudstack.host")
        total = len(hosts)
        assert listing.complete
        rows = [{"id": h.key, **h.attributes} for h in hosts]
        emulator.inject_body("listHosts", {RESPONSE: {"count": str(total), "host": rows}}, page=1)
        listing, again = run(make_collector(page_size=500), "cloudstack.host")
        assert listing.complete and len(again) == total
