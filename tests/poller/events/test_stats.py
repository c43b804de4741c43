"""Counters and their Prometheus view."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from poller.events.stats import PrometheusEvents, Stats


class TestStats:
    def test_counts_per_source_and_total(self) -> None:
        """Counters add up per source and over every source."""
        stats = Stats()
        stats.add("received", "a", 2)
        stats.add("received", "b")
        stats.add("unknown", "a", 0)
        assert (stats.get("received", "a"), stats.get("received")) == (2, 3)
        assert stats.snapshot() == {"a": {"received": 2}, "b": {"received": 1}}

    def test_prometheus_view(self) -> None:
        """Registered on a registry, the counters show as poller_events_total and the backlog as a gauge."""
        stats = Stats()
        stats.add("fetched", "os1", 5)
        registry = CollectorRegistry()
        registry.register(PrometheusEvents(stats, lambda: 7))
        text = generate_latest(registry).decode()
        assert 'poller_events_total{outcome="fetched",source="os1"} 5.0' in text
        assert "poller_events_backlog 7.0" in text
