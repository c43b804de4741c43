"""Cluster metrics, /livez and the coordination problem in /healthz (a real HTTP server on 127.0.0.1; no backend)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from poller.service.health import Freshness
from poller.service.metrics import Metrics, MetricsServer
from poller.service.scheduler import live_report


def get(port: int, path: str) -> tuple[int, bytes]:
    """GET a path of the metrics server: (status, body)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class TestClusterMetrics:
    """poller_cluster_members, poller_owned_sources, poller_sink_owner."""

    def test_gauges_render(self) -> None:
        """The node's view shows as three gauges, the sink owner as 1 for its sink and 0 for another."""
        metrics = Metrics()
        metrics.set_cluster(3, 4, {"file": True, "hook": False})
        text = metrics.render().decode()
        assert "poller_cluster_members 3.0" in text and "poller_owned_sources 4.0" in text
        assert 'poller_sink_owner{sink="file"} 1.0' in text and 'poller_sink_owner{sink="hook"} 0.0' in text


class TestLivez:
    """/livez answers for the process alone."""

    def test_livez_is_200_while_healthz_is_503(self) -> None:
        """A node whose sources are stale (a cloud down) still answers /livez 200: liveness never follows the clouds."""
        fresh = Freshness(datetime.now(UTC) - timedelta(hours=1))
        fresh.set_sources({"s": 1.0})
        server = MetricsServer("127.0.0.1", 0, Metrics(), lambda: fresh.report(datetime.now(UTC)), lambda: live_report(True, None))
        server.start()
        try:
            assert get(server.port, "/healthz")[0] == 503
            status, body = get(server.port, "/livez")
            assert status == 200 and json.loads(body)["status"] == "alive"
        finally:
            server.stop()

    def test_livez_503_when_the_scheduler_stopped(self) -> None:
        """A process whose scheduler no longer runs answers /livez 503."""
        assert live_report(False, None)[0] == 503

    def test_default_livez_without_a_callable(self) -> None:
        """A server built without a liveness callable answers /livez 200 (the process serves)."""
        server = MetricsServer("127.0.0.1", 0, Metrics(), lambda: (200, b"{}"))
        server.start()
        try:
            assert get(server.port, "/livez")[0] == 200
        finally:
            server.stop()


class TestHealthProblem:
    """A coordination problem makes /healthz 503 whatever the freshness."""

    def test_problem_turns_a_fresh_report_into_503(self) -> None:
        """With every source fresh, a problem (grace expired) still answers 503 and says why."""
        now = datetime.now(UTC)
        fresh = Freshness(now)
        fresh.set_sources({"s": 60.0})
        fresh.record_ok("s", now)
        assert fresh.report(now)[0] == 200
        status, body = fresh.report(now, problem="coordination backend redis://h:6379 unanswered for 12s (grace 10s)")
        doc = json.loads(body)
        assert status == 503 and doc["status"] == "coordination_lost" and "unanswered" in doc["problem"]
