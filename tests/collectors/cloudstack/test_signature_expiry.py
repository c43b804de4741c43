"""F05: a listing that takes longer than a signature's lifetime: each page is signed afresh."""

from __future__ import annotations

from collections.abc import Callable

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from tests.collectors.cloudstack.conftest import run

Make = Callable[..., CloudStackCollector]


def test_F05_each_page_carries_its_own_expiry(make_collector: Make, emulator: CloudStackEmulator) -> None:
    """F05: signatures valid 2 s, pages 0.5 s apart over 4 pages and more: no page is refused,
    every host is listed, and every request carries signatureVersion 3 with its own expires."""
    emulator.inject_delay("listHosts", 0.5, times=None)
    listing, hosts = run(make_collector(page_size=2, expires=2), "cloudstack.host")
    asked = [r for r in emulator.requests if r.command == "listHosts"]
    assert listing.complete and len(hosts) == 10, listing.error
    assert len(asked) >= 5
    assert all("expires" in r.params and "signatureVersion" in r.params for r in asked)
