"""Counters of the event path: what arrived, what was refused, dropped, fetched and committed.

Owns only thread-safe counting by (counter, source); never logs and never holds a secret.
"""

from __future__ import annotations

import threading
from collections import Counter

# The counters, for documentation and the stats endpoint.
NAMES = (
    "received",        # events that reached a source's intake (HTTP or AMQP), after authentication
    "unknown",         # events that name nothing this source models: acknowledged, not fetched
    "malformed",       # bodies or messages that are not an event (HTTP 400 / AMQP message dropped)
    "unauthorized",    # HTTP requests refused with 401
    "too_large",       # HTTP bodies over events.http.max_body (413)
    "rejected_full",   # events refused because the queue was full (HTTP 503)
    "dropped",         # events accepted for a noop or disabled source and dropped
    "coalesced",       # (type, key) targets folded into a fetch already waiting
    "fetched",         # targets re-read from the API
    "refreshes",       # refresh transactions committed
    "busy",            # refreshes postponed because a snapshot held the source's lease
    "failed",          # refreshes that failed (retried up to events.max_retries)
    "abandoned",       # targets given up after events.max_retries failures
    "notifications",   # change notifications committed by refreshes
)


class Stats:
    """Counts per (name, source); safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, name: str, source: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` of ``source``."""
        if amount:
            with self._lock:
                self._counts[(name, source)] += amount

    def get(self, name: str, source: str | None = None) -> int:
        """One counter for one source, or summed over every source."""
        with self._lock:
            if source is not None:
                return self._counts[(name, source)]
            return sum(n for (counter, _src), n in self._counts.items() if counter == name)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every non-zero counter as ``{source: {name: count}}``."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (name, source), count in sorted(self._counts.items()):
                out.setdefault(source, {})[name] = count
            return out
