"""Throttling by an OpenStack service: 429/503 with Retry-After are waited out, not failures (F06)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.openstack.conftest import run

Make = Callable[..., OpenStackCollector]


class TestThrottling:
    @pytest.mark.parametrize("status", [429, 503])
    def test_F06_retry_after_is_honoured_and_the_listing_completes(
            self, emulator: OpenStackEmulator, make_collector: Make, caplog: pytest.LogCaptureFixture, status: int) -> None:
        """F06: two throttled answers with Retry-After: 1 are waited out (1 s each, as told) and the listing completes."""
        caplog.set_level(logging.WARNING, logger="keystoneauth")
        complete = run(make_collector(page_size=2), "compute.server")[1]
        emulator.inject(r"/servers/detail", status, skip=1, times=2, retry_after="1")
        listing, items = run(make_collector(page_size=2), "compute.server")
        assert listing.complete and [i.key for i in items] == [i.key for i in complete]
        waits = [r.getMessage() for r in caplog.records if "Retrying in" in r.getMessage()]
        assert len(waits) == 2 and all("Retrying in 1.0s" in w for w in waits)

    def test_F06_throttling_past_the_retries_is_an_incomplete_listing(
            self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F06: a service that keeps answering 429 ends the type's listing incomplete (nothing deleted)."""
        emulator.inject(r"/servers/detail", 429, times=None, retry_after="0")
        listing, _ = run(make_collector(page_size=2), "compute.server")
        assert listing.complete is False and "429" in str(listing.error)
