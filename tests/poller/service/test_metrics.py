"""Metrics: what a run records, and the HTTP server for /metrics and /healthz."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from poller.run.source import RunResult, TypeResult
from poller.service.metrics import Metrics, MetricsServer

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def result(status: str = "ok", **counts: int) -> RunResult:
    return RunResult("src", status, T0, finished_at=T0, run_id=1, types=[TypeResult("vm", **counts)])


class TestMetrics:
    """Metrics.observe_run and friends."""

    def test_changes_counted_per_type_and_action(self) -> None:
        """Creates, updates and deletes land in poller_changes_total by type and action."""
        m = Metrics()
        m.observe_run(result(created=3, updated=2, deleted=1), 0.5)
        assert value(m, "poller_changes_total", source="src", entity_type="vm", action="create") == 3
        assert value(m, "poller_changes_total", source="src", entity_type="vm", action="delete") == 1

    def test_failure_and_partial_counted(self) -> None:
        """Failed and partial runs have their own counters; only ok runs move the last-success time."""
        m = Metrics()
        m.observe_run(result("failed"), 0.1)
        m.observe_run(result("partial"), 0.1)
        assert value(m, "poller_run_failures_total", source="src") == 1
        assert value(m, "poller_run_partial_total", source="src") == 1
        assert value(m, "poller_last_success_timestamp_seconds", source="src") is None
        m.observe_run(result("ok"), 0.1)
        assert value(m, "poller_last_success_timestamp_seconds", source="src") == T0.timestamp()

    def test_duration_histogram(self) -> None:
        """A run's duration is observed in the histogram under its status."""
        m = Metrics()
        m.observe_run(result(), 2.0)
        assert value(m, "poller_run_duration_seconds_count", source="src", status="ok") == 1
        assert value(m, "poller_run_duration_seconds_bucket", source="src", status="ok", le="1.0") == 0

    def test_held_deletions_gauge(self) -> None:
        """Deletions held by the mass-deletion guard show in a gauge per type."""
        m = Metrics()
        m.observe_run(result("partial", held=40), 0.1)
        assert value(m, "poller_mass_deletions_held", source="src", entity_type="vm") == 40

    def test_dedicated_registry(self) -> None:
        """Nothing is registered in prometheus_client's global registry."""
        Metrics()
        assert REGISTRY.get_sample_value("poller_runs_total", {"source": "src", "status": "ok"}) is None


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    m = Metrics()
    m.set_backlog({"file": 7})
    srv = MetricsServer("127.0.0.1", 0, m, lambda: (503, b'{"status":"stale"}'))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class TestServer:
    """One HTTP server answers /metrics and /healthz on 127.0.0.1."""

    def test_metrics_text(self, server: MetricsServer) -> None:
        """/metrics answers the Prometheus text format with our series."""
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert 'poller_outbox_backlog{sink="file"} 7.0' in text

    def test_healthz_status_and_body(self, server: MetricsServer) -> None:
        """/healthz answers the health function's status and JSON body."""
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        assert info.value.code == 503 and info.value.read() == b'{"status":"stale"}'

    def test_unknown_path_404(self, server: MetricsServer) -> None:
        """Any other path is a 404."""
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert info.value.code == 404
