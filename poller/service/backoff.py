"""Lockout-safe scheduling: a source whose credentials were rejected backs off exponentially.

Owns the rule: after the n-th consecutive rejected login a source's next attempt is
2^(n-1) scheduled runs later (1, 2, 4 ... runs, at most one hour's worth), and a run
that gets past the login resets it. Pure bookkeeping fed by the scheduler; never runs a
source, never reads the database or the network.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

MAX_BACKOFF_S = 3600.0


@dataclass
class _State:
    rejected: int = 0  # consecutive runs whose credentials were rejected
    skip: int = 0  # scheduled runs still to skip before the next attempt
    every: int = 1  # the backoff in scheduled runs (1: no run is skipped)


@dataclass(frozen=True)
class BackingOff:
    """One source whose credentials were rejected, as /healthz names it."""

    source: str
    rejected: int
    every_runs: int
    skip_runs: int

    def as_dict(self) -> dict[str, object]:
        """The JSON form used in the /healthz body."""
        return {"source": self.source, "reason": "credentials rejected", "rejected_runs": self.rejected,
                "attempt_every_runs": self.every_runs, "runs_until_next_attempt": self.skip_runs}


class Backoff:
    """Consecutive credential rejections per source, and the scheduled runs to skip; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def rejected(self, source: str, period_s: float) -> int:
        """Record a rejected login; returns the backoff in scheduled runs (1, 2, 4 ... capped at an hour's worth)."""
        with self._lock:
            state = self._states.setdefault(source, _State())
            state.rejected += 1
            cap = max(1, int(MAX_BACKOFF_S // period_s)) if period_s > 0 else 1
            state.every = min(2 ** (state.rejected - 1), cap)
            state.skip = state.every - 1
            return state.every

    def succeeded(self, source: str) -> int:
        """A run got past the login: forget the backoff; returns how many rejections it had followed."""
        with self._lock:
            state = self._states.pop(source, None)
        return 0 if state is None else state.rejected

    def take_skip(self, source: str) -> bool:
        """True when this scheduled run of ``source`` is to be skipped (and counts it as skipped)."""
        with self._lock:
            state = self._states.get(source)
            if state is None or state.skip <= 0:
                return False
            state.skip -= 1
            return True

    def level(self, source: str) -> int:
        """Consecutive rejected logins of ``source`` (0 when it is not backing off)."""
        with self._lock:
            state = self._states.get(source)
            return 0 if state is None else state.rejected

    def backing_off(self) -> list[BackingOff]:
        """Every source currently backing off, by name."""
        with self._lock:
            return [BackingOff(name, s.rejected, s.every, s.skip) for name, s in sorted(self._states.items())]

    def forget(self, keep: set[str]) -> None:
        """Drop sources no longer configured."""
        with self._lock:
            for name in [n for n in self._states if n not in keep]:
                del self._states[name]
