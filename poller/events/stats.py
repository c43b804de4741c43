"""Counters of the event path: what arrived, what was refused, dropped, fetched and committed.

Owns thread-safe counting by (counter, source) and its Prometheus view; never logs and
never holds a secret.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

# The counters, for documentation and the stats endpoint.
NAMES = (
    "received",        # events that reached a source's intake (HTTP or AMQP), after authentication
    "unknown",         # events that name nothing this source models: acknowledged, not fetched
    "malformed",       # bodies or messages that are not an event (HTTP 400 / AMQP message dropped)
    "unauthorized",    # HTTP requests refused with 401
    "too_large",       # HTTP bodies over events.http.max_body (413)
    "unsupported_media_type",  # HTTP bodies sent as something other than JSON (415)
    "replayed",        # signed deliveries seen again with the same delivery id (answered, not queued)
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


class PrometheusEvents:
    """A prometheus_client custom collector over Stats: register it on the service's own registry.

    ``registry.register(PrometheusEvents(service.stats, lambda: service.processor.backlog))`` exposes
    ``poller_events_total{source, outcome}`` (outcome = one of NAMES) and ``poller_events_backlog``.
    """

    def __init__(self, stats: Stats, backlog: Callable[[], int]) -> None:
        self.stats = stats
        self.backlog = backlog

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (called by the registry at each scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        total = CounterMetricFamily("poller_events", "Push events and refreshes by source and outcome.",
                                    labels=["source", "outcome"])
        for source, counts in self.stats.snapshot().items():
            for name, count in counts.items():
                total.add_metric([source, name], count)
        yield total
        yield GaugeMetricFamily("poller_events_backlog", "Entities waiting for an event-triggered fetch.",
                                value=self.backlog())
