"""The emulator and the collector at 10,000 servers: a full listing, then a changes-since delta.

Prints the API calls and seconds of each (``pytest -s``); the figures go in the issue's report.
"""

from __future__ import annotations

import time

from collectors.base import Entity, Gone, ListContext
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.openstack.conftest import Clock, run

SERVERS = 10_000


def test_ten_thousand_servers_full_then_delta(clock: Clock) -> None:
    """A delta after ten changes costs a fraction of a full listing of 10,000 servers, with the same result."""
    with OpenStackEmulator(clock=clock) as emu:
        emu.seed_demo()
        emu.seed_servers(SERVERS)
        collector = OpenStackCollector("os-scale", emu.source_options())
        run(collector, "compute.flavor")  # authenticate and discover outside the measurements
        emu.reset_requests()
        clock.advance(3600)  # the seeding is older than the default 5-minute safety margin
        started = clock()
        t0 = time.perf_counter()
        listing, items = run(collector, "compute.server", ListContext(now=started))
        full_seconds = time.perf_counter() - t0
        full_calls = len(emu.requests)
        assert listing.complete and len(items) == SERVERS + 4

        clock.advance(600)
        bulk = [s["id"] for s in emu.cloud.all("compute.server") if s["name"].startswith("bulk-")]
        for key in bulk[:5]:
            emu.cloud.update("compute.server", key, name=key[:8] + "-renamed")
        for key in bulk[5:10]:
            emu.cloud.delete("compute.server", key)
        clock.advance(60)
        emu.reset_requests()
        t0 = time.perf_counter()
        context = ListContext(now=clock(), last_listed_at=started, last_full_at=started, listings_since_full=0)
        delta, changes = run(collector, "compute.server", context)
        delta_seconds = time.perf_counter() - t0
        delta_calls = len(emu.requests)
        collector.close()
    assert delta.delta and delta.complete
    assert len([c for c in changes if isinstance(c, Gone)]) == 5
    assert len([c for c in changes if isinstance(c, Entity)]) == 5
    assert delta_calls < full_calls and delta_seconds < full_seconds
    print(f"\n10,000 servers: full listing {full_calls} API calls, {full_seconds:.2f} s; "
          f"delta after 10 changes {delta_calls} API calls, {delta_seconds:.3f} s")
