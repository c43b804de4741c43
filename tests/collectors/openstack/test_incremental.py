"""Incremental polling of compute.server with changes-since: the schedule, the delta content,
and a property test that deltas between full snapshots keep the same baseline as full runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.base import Entity, Gone, ListContext
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator import resources as r
from collectors.openstack.emulator.demo import boot_server
from tests.collectors.openstack.conftest import Clock, apply_listing, now, run


def _context(clock: Clock, last: Any = None, full: Any = None, since_full: int = 0) -> ListContext:
    return ListContext(now=clock(), last_listed_at=last, last_full_at=full, listings_since_full=since_full)


class TestSchedule:
    """When the collector answers with a delta and when with a full snapshot."""

    def _collector(self, emulator: OpenStackEmulator, **options: Any) -> OpenStackCollector:
        return OpenStackCollector("os-test", emulator.source_options(**options))

    def test_first_listing_is_full(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """Without an earlier listing there is nothing to be incremental from."""
        assert self._collector(emulator).delta_since(_context(clock)) is None

    def test_every_nth_run_is_full(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """With full_every 3: full, delta, delta, full..."""
        collector = self._collector(emulator, full_every=3)
        t = clock()
        kinds = [collector.delta_since(_context(clock, t, t, n)) is None for n in range(4)]
        assert kinds == [False, False, True, True]

    def test_duration_schedule(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """With full_every 1h, a full snapshot is due once the last one is an hour old."""
        collector = self._collector(emulator, full_every="1h")
        recent, old = clock() - timedelta(minutes=10), clock() - timedelta(minutes=61)
        assert collector.delta_since(_context(clock, recent, recent, 50)) is not None
        assert collector.delta_since(_context(clock, recent, old, 1)) is None

    def test_margin_is_subtracted(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """changes-since reaches back by the safety margin before the last listing's start."""
        collector = self._collector(emulator, changes_since_margin="2m")
        t = clock()
        assert collector.delta_since(_context(clock, t, t, 0)) == t - timedelta(minutes=2)


class TestDelta:
    """A delta listing holds what changed, deleted servers as Gone, and nothing else."""

    def test_delta_content(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """After boot, resize, delete and rename, the delta holds three servers and one Gone."""
        collector = OpenStackCollector("os-test", emulator.source_options(changes_since_margin=0))
        clock.advance(10)
        start = clock()
        clock.advance(10)
        changed = emulator.apply_demo_changes()
        listing, items = run(collector, "compute.server", _context(clock, start, start, 0))
        assert listing.delta and listing.complete
        gone = [i.key for i in items if isinstance(i, Gone)]
        seen = {i.key for i in items if isinstance(i, Entity)}
        assert gone == [changed["deleted"]]
        assert seen == {changed["booted"], changed["resized"], changed["renamed"]}

    def test_delta_asks_changes_since(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """The delta request carries changes-since and all_tenants."""
        collector = OpenStackCollector("os-test", emulator.source_options())
        t = clock()
        run(collector, "compute.server", _context(clock, t, t, 0))
        pages = [q for q in emulator.requests if q.path.endswith("/servers/detail")]
        assert pages and "changes-since=" in pages[0].query and "all_tenants" in pages[0].query

    def test_failed_delta_is_incomplete(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """A delta whose page fails is incomplete like any listing."""
        collector = OpenStackCollector("os-test", emulator.source_options())
        emulator.inject(r"/servers/detail", 500)
        t = clock()
        listing, _ = run(collector, "compute.server", _context(clock, t, t, 0))
        assert listing.delta and not listing.complete


OPS = st.lists(st.lists(st.tuples(st.sampled_from(["boot", "delete", "rename", "resize", "meta", "tick"]),
                                  st.integers(0, 1000)), max_size=4), min_size=1, max_size=6)


def _apply_op(emu: OpenStackEmulator, clock: Clock, op: str, n: int) -> None:
    servers = emu.cloud.all("compute.server")
    seeded = emu.seeded
    clock.advance(1 + n % 3)
    if op == "boot" or not servers:
        project = seeded.projects[n % 2]
        boot_server(emu.cloud, seeded, f"prop-{n}", project, seeded.flavors[n % 3], seeded.images[n % 3],
                    seeded.hypervisors[n % 3], n % 200)
        return
    target = servers[n % len(servers)]["id"]
    if op == "delete":
        emu.cloud.delete("compute.server", target)
    elif op == "rename":
        emu.cloud.update("compute.server", target, name=f"renamed-{n}")
    elif op == "resize":
        r.resize_server(emu.cloud, target, seeded.flavors[n % 3])
    elif op == "meta":
        emu.cloud.update("compute.server", target, metadata={"k": str(n)})


class TestEquivalence:
    """Incremental runs between full snapshots give the baseline full runs alone give."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=OPS, every=st.integers(1, 4), margin=st.sampled_from([0, 1, 300]))
    def test_incremental_equals_full(self, clock: Clock, steps: list[list[tuple[str, int]]], every: int,
                                     margin: int) -> None:
        """After any sequence of changes and runs, the incrementally kept baseline equals a fresh full listing."""
        with OpenStackEmulator(clock=clock, seed=len(steps)) as emu:
            emu.seed_demo()
            options = emu.source_options(full_every=every, changes_since_margin=margin)
            incremental = OpenStackCollector("os-inc", options)
            full_only = OpenStackCollector("os-full", emu.source_options(full_every=1))
            etype = incremental.entity_type("compute.server")
            baseline: dict[str, Any] = {}
            last = last_full = None
            since_full = 0
            for step in steps:
                for op, n in step:
                    _apply_op(emu, clock, op, n)
                clock.advance(1)
                started = clock()
                context = ListContext(now=started, last_listed_at=last, last_full_at=last_full,
                                      listings_since_full=since_full)
                listing, items = run(incremental, "compute.server", context)
                baseline = apply_listing(baseline, etype, listing, items)
                last = started
                if listing.delta:
                    since_full += 1
                else:
                    last_full, since_full = started, 0
                truth_listing, truth = run(full_only, "compute.server", ListContext(now=now()))
                assert baseline == apply_listing({}, etype, truth_listing, truth)
            incremental.close()
            full_only.close()
