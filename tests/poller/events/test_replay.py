"""The replay guard: one acceptance per delivery id and source within a bounded window."""

from __future__ import annotations

from poller.events.replay import ReplayGuard


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestReplayGuard:
    def test_S04_second_sighting_is_a_replay(self) -> None:
        """S04: the same id for the same source is accepted once."""
        guard = ReplayGuard(clock=FakeClock())
        assert [guard.first_time("cs1", "e-1") for _ in range(3)] == [True, False, False]

    def test_ids_are_per_source(self) -> None:
        """One id seen on two sources is two deliveries."""
        guard = ReplayGuard(clock=FakeClock())
        assert guard.first_time("cs1", "e-1") and guard.first_time("cs2", "e-1")

    def test_forgotten_after_the_window(self) -> None:
        """Past the window an id is accepted again (the memory is bounded in time)."""
        clock = FakeClock()
        guard = ReplayGuard(window=60, clock=clock)
        assert guard.first_time("cs1", "e-1")
        clock.now += 61
        assert guard.first_time("cs1", "e-1")

    def test_bounded_in_size(self) -> None:
        """The oldest ids are forgotten first when the memory is full."""
        guard = ReplayGuard(max_ids=2, clock=FakeClock())
        for delivery in ("a", "b", "c"):
            assert guard.first_time("s", delivery)
        assert guard.first_time("s", "a") and not guard.first_time("s", "c")
