"""Wall-clock steps seen by the service: the wall clock against the monotonic clock.

Owns noticing that the wall clock jumped (suspend/resume, an NTP step, an operator's
``date -s``) and deciding how each scheduled job's next time moves. It never runs a job
and never reads the database: the scheduler applies what it decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

DEFAULT_THRESHOLD_S = 10.0


class ClockWatch:
    """Tells how far the wall clock stepped since the last check (beyond ``threshold`` seconds).

    The difference between ``wall()`` and ``monotonic()`` stays constant while both clocks
    run; a change of it is a step of the wall clock (positive: forward).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD_S, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self._wall = wall
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def check(self) -> float | None:
        """The step in seconds since the last check when it exceeds the threshold, else None."""
        offset = self._wall() - self._monotonic()
        step = offset - self._offset
        if abs(step) <= self.threshold:
            return None
        self._offset = offset
        return step


def moved_run_time(next_run: datetime, step: float, now: datetime, *, catch_up: bool) -> datetime:
    """Where a job's next run time goes after a wall-clock step of ``step`` seconds.

    Backward (an NTP step back): the job keeps the wait it had left, instead of sleeping for
    the size of the step. Forward (suspend/resume): a source job (``catch_up``) runs once now,
    coalescing every run the step skipped; other jobs keep the wait they had left.
    """
    if step > 0 and catch_up:
        return now
    return max(now, next_run + timedelta(seconds=step))
