"""Prometheus metrics of the service, and the small HTTP server for /metrics, /healthz and /livez.

Owns a dedicated CollectorRegistry (never the process-global one) and the one server
thread; it only records what the service tells it and never touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from poller.run.source import RunResult

log = structlog.get_logger("poller.metrics")

DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
ACTIONS = (("created", "create"), ("updated", "update"), ("deleted", "delete"))


class Metrics:
    """The service's metrics, all prefixed ``poller_``, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.run_duration = Histogram(
            "poller_run_duration_seconds", "Duration of source runs.", ["source", "status"], buckets=DURATION_BUCKETS, registry=r
        )
        self.runs = Counter("poller_runs_total", "Finished runs by status (ok, partial, failed, busy).", ["source", "status"], registry=r)
        self.failures = Counter("poller_run_failures_total", "Runs that failed.", ["source"], registry=r)
        self.partial = Counter("poller_run_partial_total", "Runs that were partial (a type incomplete, held deletions, timeout).",
                               ["source"], registry=r)
        self.timeouts = Counter("poller_run_timeouts_total", "Runs abandoned past the source's timeout.", ["source"], registry=r)
        self.skipped = Counter("poller_runs_skipped_total", "Scheduled runs skipped (previous run still going).", ["source", "reason"],
                               registry=r)
        self.misfires = Counter("poller_run_misfires_total", "Scheduled runs missed by more than service.misfire_grace.", ["source"],
                                registry=r)
        self.entities = Gauge("poller_entities", "Live baseline entities per source and type.", ["source", "entity_type"], registry=r)
        self.changes = Counter("poller_changes_total", "Entity changes recorded (a silent first load's creates included).",
                               ["source", "entity_type", "action"], registry=r)
        self.held = Gauge("poller_mass_deletions_held", "Deletions held by the mass-deletion guard in the last run.",
                          ["source", "entity_type"], registry=r)
        self.backlog = Gauge("poller_outbox_backlog", "Notifications waiting in the outbox per durable sink.", ["sink"], registry=r)
        self.last_success = Gauge("poller_last_success_timestamp_seconds", "Unix time of the last complete (ok) run.", ["source"],
                                  registry=r)
        self.reloads = Counter("poller_config_reloads_total", "SIGHUP reloads by outcome (applied, rejected).", ["outcome"], registry=r)
        self.backoff = Gauge("poller_source_backoff", "Consecutive runs whose credentials were rejected (0: not backing "
                             "off); the next attempt waits 2^(n-1) scheduled runs, at most an hour.", ["source"], registry=r)
        self.running = Gauge("poller_runs_in_progress", "Runs in progress (including abandoned ones still unwinding).", registry=r)
        self.cluster_members = Gauge("poller_cluster_members", "Members of the coordination group this node sees.", registry=r)
        self.owned_sources = Gauge("poller_owned_sources", "Sources this cluster node schedules (its share of the ring).", registry=r)
        self.sink_owner = Gauge("poller_sink_owner", "1 when this node is the one deliverer of the durable sink, else 0.", ["sink"],
                                registry=r)

    def observe_run(self, result: RunResult, duration: float) -> None:
        """Record one finished run: its duration, status, changes and held deletions."""
        source = result.source
        self.run_duration.labels(source, result.status).observe(duration)
        self.runs.labels(source, result.status).inc()
        if result.status == "failed":
            self.failures.labels(source).inc()
        elif result.status == "partial":
            self.partial.labels(source).inc()
        self.observe_changes(result)
        for t in result.types:
            if t.status == "complete":
                self.held.labels(source, t.entity_type).set(t.held)
        if result.status == "ok" and result.finished_at is not None:
            self.last_success.labels(source).set(result.finished_at.timestamp())

    def observe_changes(self, result: RunResult) -> None:
        """Count a run's (or a push-event refresh's) notifications by type and action."""
        for t in result.types:
            for attr, action in ACTIONS:
                value = getattr(t, attr)
                if value:
                    self.changes.labels(result.source, t.entity_type, action).inc(value)

    def set_entities(self, source: str, counts: Mapping[str, int]) -> None:
        """Live entity counts of one source, per type."""
        for entity_type, count in counts.items():
            self.entities.labels(source, entity_type).set(count)

    def set_backlog(self, backlog: Mapping[str, int]) -> None:
        """Notifications waiting per durable sink."""
        for sink, waiting in backlog.items():
            self.backlog.labels(sink).set(waiting)

    def set_cluster(self, members: int, owned: int, sinks: Mapping[str, bool]) -> None:
        """This cluster node's view: members seen, sources owned, durable sinks it delivers."""
        self.cluster_members.set(members)
        self.owned_sources.set(owned)
        for sink, mine in sinks.items():
            self.sink_owner.labels(sink).set(1 if mine else 0)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsServer:
    """One ThreadingHTTPServer on its own daemon thread serving /metrics, /healthz and /livez.

    /livez answers ``live()`` (default: 200 while the server answers at all): for liveness
    probes, it never depends on a cloud, the database or the coordination backend.
    """

    def __init__(self, host: str, port: int, metrics: Metrics, health: Callable[[], tuple[int, bytes]],
                 live: Callable[[], tuple[int, bytes]] | None = None) -> None:
        handler = _handler(metrics, health, live or (lambda: (200, b'{"status": "alive"}')))
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> None:
        """Start answering."""
        self._thread.start()
        log.info("metrics_listening", host=self.host, port=self.port, paths="/metrics /healthz /livez")

    def stop(self) -> None:
        """Stop answering and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def _handler(metrics: Metrics, health: Callable[[], tuple[int, bytes]],
             live: Callable[[], tuple[int, bytes]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cloud-poller"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, metrics.render())
            elif path == "/healthz":
                status, body = health()
                self._answer(status, "application/json", body)
            elif path == "/livez":
                status, body = live()
                self._answer(status, "application/json", body)
            else:
                self._answer(404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /livez\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            """Scrapes are not logged."""

    return Handler
