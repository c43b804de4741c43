"""Source freshness for ``/healthz``: is every enabled source getting complete runs?

Owns the staleness rule: a source is stale when its last complete (status ok) run is
older than ``3 × its period`` (interval plus jitter, or the longest gap of its cron
schedule). In a cluster the service feeds it the runs of every node (from the database),
so each node judges the whole cluster's sources alike. Pure bookkeeping fed by the
service; never reads the database or the network.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

STALE_FACTOR = 3


@dataclass(frozen=True)
class Stale:
    """One source that has not completed a run recently enough."""

    source: str
    last_ok: datetime | None
    max_age_s: float
    age_s: float

    def as_dict(self) -> dict[str, object]:
        """The JSON form used in the /healthz body."""
        return {
            "source": self.source,
            "last_ok": None if self.last_ok is None else self.last_ok.isoformat(),
            "age_s": round(self.age_s, 1),
            "max_age_s": round(self.max_age_s, 1),
        }


class Freshness:
    """Last complete run per source, and each enabled source's period; thread-safe.

    A source that never completed a run is measured from ``started_at`` (the service's
    start), so a freshly started service is healthy until its sources had their chance.
    """

    def __init__(self, started_at: datetime) -> None:
        self.started_at = started_at
        self._lock = threading.Lock()
        self._periods: dict[str, float] = {}
        self._last_ok: dict[str, datetime] = {}

    def set_sources(self, periods: Mapping[str, float]) -> None:
        """The enabled sources and their periods in seconds (replaces the previous set)."""
        with self._lock:
            self._periods = dict(periods)

    def record_ok(self, source: str, when: datetime) -> None:
        """A complete run of ``source`` finished at ``when``."""
        with self._lock:
            previous = self._last_ok.get(source)
            if previous is None or when > previous:
                self._last_ok[source] = when

    def last_ok(self, source: str) -> datetime | None:
        """When ``source`` last completed a run (None if never seen)."""
        with self._lock:
            return self._last_ok.get(source)

    def stale(self, now: datetime) -> list[Stale]:
        """The enabled sources whose last complete run is older than STALE_FACTOR periods."""
        with self._lock:
            periods, last = dict(self._periods), dict(self._last_ok)
        out = []
        for source, period in sorted(periods.items()):
            seen = last.get(source)
            reference = seen if seen is not None else self.started_at
            age = (now - reference).total_seconds()
            limit = STALE_FACTOR * period
            if age > limit:
                out.append(Stale(source, seen, limit, age))
        return out

    def report(self, now: datetime, problem: str | None = None) -> tuple[int, bytes]:
        """The /healthz answer: (200, body) when nothing is stale, else (503, body naming the stale sources).

        ``problem`` (a cluster node that lost its coordination backend past the grace period)
        makes the answer 503 whatever the sources' freshness.
        """
        stale = self.stale(now)
        with self._lock:
            count = len(self._periods)
        status = "ok" if not stale else "stale"
        body: dict[str, object] = {"status": status, "sources": count, "stale": [s.as_dict() for s in stale]}
        if problem is not None:
            body.update(status="coordination_lost", problem=problem)
        return (200 if not stale and problem is None else 503), orjson.dumps(body)
