"""Wall-clock steps: how they are noticed and where each job's next run moves (F21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from poller.service.clock import ClockWatch, moved_run_time

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clocks:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0


class TestClockWatch:
    def test_running_clocks_are_no_step(self) -> None:
        """Both clocks advancing together is no step."""
        c = Clocks()
        watch = ClockWatch(wall=lambda: c.wall, monotonic=lambda: c.mono)
        c.wall += 30
        c.mono += 30
        assert watch.check() is None

    def test_F21_forward_and_back_steps_are_reported_once(self) -> None:
        """F21: a +2 h step is reported as +7200 once; a later -1 h step as -3600."""
        c = Clocks()
        watch = ClockWatch(wall=lambda: c.wall, monotonic=lambda: c.mono)
        c.wall += 7200
        assert watch.check() == 7200 and watch.check() is None
        c.wall -= 3600
        assert watch.check() == -3600

    def test_small_drift_is_ignored(self) -> None:
        """NTP slewing a few seconds stays under the threshold."""
        c = Clocks()
        watch = ClockWatch(threshold=10, wall=lambda: c.wall, monotonic=lambda: c.mono)
        c.wall += 3
        assert watch.check() is None


class TestMovedRunTime:
    def test_F21_step_back_keeps_the_remaining_wait(self) -> None:
        """F21: after a 1 h step back a job due in 2 s is still due in 2 s, not in an hour."""
        now = NOW - timedelta(hours=1)
        moved = moved_run_time(NOW + timedelta(seconds=2), -3600, now, catch_up=True)
        assert moved == now + timedelta(seconds=2)

    def test_F21_step_forward_runs_a_source_once_now(self) -> None:
        """F21: after a 2 h step forward a source job runs now (one coalesced catch-up run)."""
        now = NOW + timedelta(hours=2)
        assert moved_run_time(NOW + timedelta(seconds=2), 7200, now, catch_up=True) == now

    def test_step_forward_keeps_other_jobs_waits(self) -> None:
        """Other jobs (delivery, pruning) keep the wait they had left, never earlier than now."""
        now = NOW + timedelta(hours=2)
        assert moved_run_time(NOW + timedelta(seconds=5), 7200, now, catch_up=False) == now + timedelta(seconds=5)
        assert moved_run_time(NOW - timedelta(seconds=5), -10, NOW, catch_up=False) == NOW
