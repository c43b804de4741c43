"""The HTTP intake: ``POST /v1/sources/<source>/events`` on a threaded server (127.0.0.1 by default).

Owns the request rules: per-source authentication (bearer token or CloudStack's
``X-CS-Signature``), the body size limit, JSON parsing with a reason on 400, and the
answers (202 queued, 200 to CloudStack webhooks, 503 + Retry-After when the queue is
full). It never fetches anything itself and never echoes a credential or a body.

Answers: 202 accepted (also for events that name nothing we model, and for noop
sources, which drop them); 200 instead of 202 when the request carries CloudStack's
``X-CS-Event-ID`` header, because CloudStack's WebhookDeliveryThread counts only 200 as
delivered and retries anything else; 400 malformed; 401 not authenticated (also for a
source that takes no events, so names cannot be probed); 404 other paths; 411 without
Content-Length; 413 too large; 503 queue full.
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import structlog

from poller.events import auth
from poller.events.config import EventsConfig, HttpConfig
from poller.events.processor import EventProcessor, QueueFull
from poller.events.replay import ReplayGuard
from poller.events.stats import Stats

log = structlog.get_logger("poller.events.http")

PATH = re.compile(r"^/v1/sources/([^/]+)/events/?$")
MAX_EVENTS_PER_BODY = 1000
# Media types we parse as JSON; a request naming another one is answered 415 (B17). A request
# without Content-Type is read as JSON (scripts that post with http.client or curl --json).
JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")
# Delivery ids that make a replayed, validly signed webhook recognisable (S04).
DELIVERY_ID_HEADERS = ("x-cs-event-id", "webhook-id")
SOCKET_TIMEOUT = 30.0
UNKNOWN_SOURCE = "-"  # the stats label of requests naming no event source (never the raw name: unbounded)


class Malformed(ValueError):
    """The body is not one event or an array of events; the message says why (never quotes the body)."""


def parse_events(body: bytes) -> list[Mapping[str, Any]]:
    """The events in a request body: one JSON object, or a JSON array of 1 to 1000 objects."""
    if not body.strip():
        raise Malformed("empty body: expected a JSON object (one event) or an array of events")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise Malformed(f"body is not UTF-8 (byte {bad.start})") from None
        raise Malformed(f"body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise Malformed("empty array: expected at least one event")
        if len(doc) > MAX_EVENTS_PER_BODY:
            raise Malformed(f"too many events in one body ({len(doc)}; at most {MAX_EVENTS_PER_BODY})")
        for index, item in enumerate(doc):
            if not isinstance(item, dict):
                raise Malformed(f"item {index} of the array is a {_kind(item)}, not an event object")
        return doc
    raise Malformed(f"body is a JSON {_kind(doc)}: expected an event object or an array of them")


def _kind(value: Any) -> str:
    return {str: "string", int: "number", float: "number", bool: "boolean", list: "array", dict: "object"}.get(
        type(value), "null")


class EventHttpServer:
    """The intake server; ``start()`` binds and serves in a daemon thread, ``stop()`` closes it."""

    def __init__(self, settings: HttpConfig, events: EventsConfig, processor: EventProcessor, stats: Stats) -> None:
        self.settings = settings
        self.events = events
        self.processor = processor
        self.stats = stats
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.replays = ReplayGuard()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when the config said 0."""
        if self._server is None:
            raise RuntimeError("the event intake is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8787``."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread."""
        handler = type("BoundEventHandler", (_Handler,), {"intake": self})
        self._server = ThreadingHTTPServer((self.settings.host, self.settings.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="events-http", daemon=True)
        self._thread.start()
        if not _loopback(self.settings.host):
            log.warning("events_http_not_loopback", host=self.settings.host,
                        hint="tokens travel in clear text: put a TLS proxy in front of it")
        log.info("events_http_listening", host=self.address[0], port=self.address[1])

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _json_media_type(content_type: str | None) -> bool:
    """True for a JSON media type (parameters such as charset ignored) or no Content-Type at all."""
    if content_type is None or not content_type.strip():
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    intake: EventHttpServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    # TCP_NODELAY: an answer is written as headers then body; with Nagle on, the body waits for
    # the client's delayed ACK of the headers (~40 ms per request on a kept-alive connection, L07).
    disable_nagle_algorithm = True
    server_version = "cloud-poller-events"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silence http.server's own access log (it would print paths and addresses unredacted)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200, {"status": "ok", "backlog": self.intake.processor.backlog})
        elif path == "/v1/stats":
            self._reply(200, {"backlog": self.intake.processor.backlog, "sources": self.intake.stats.snapshot()})
        else:
            self._reply(404, {"error": "not found"})

    def do_PUT(self) -> None:  # noqa: N802
        self._refuse_method()

    def do_DELETE(self) -> None:  # noqa: N802
        self._refuse_method()

    def _refuse_method(self) -> None:
        self.close_connection = True
        self._reply(405, {"error": "method not allowed"}, extra={"Allow": "POST"})

    def do_POST(self) -> None:  # noqa: N802
        match = PATH.match(urlsplit(self.path).path)
        if match is None:
            self.close_connection = True
            self._reply(404, {"error": "not found: POST /v1/sources/<source>/events"})
            return
        name = unquote(match.group(1))
        source = self.intake.events.sources.get(name)
        if source is None or name not in self.intake.processor.sources:
            self._unauthorized(UNKNOWN_SOURCE, read=False)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._body(name, headers)
        if body is None:
            return
        if not auth.authenticate(source, headers, body):
            self._unauthorized(name, read=True)
            return
        if not _json_media_type(headers.get("content-type")):
            self.intake.stats.add("unsupported_media_type", name)
            self._reply(415, {"error": "Content-Type must be application/json"})
            return
        if self._replayed(name, headers):
            return
        self._accept(name, body, headers)

    def _replayed(self, source: str, headers: Mapping[str, str]) -> bool:
        """Answer a replayed delivery (same id within the window) as done, without queuing it again."""
        delivery_id = next((headers[h] for h in DELIVERY_ID_HEADERS if headers.get(h)), None)
        if delivery_id is None or self.intake.replays.first_time(source, delivery_id):
            return False
        self.intake.stats.add("replayed", source)
        log.info("events_replay_ignored", source=source)
        ok = 200 if "x-cs-event-id" in headers else 202
        self._reply(ok, {"status": "duplicate", "events": 0, "targets": 0, "unknown": 0})
        return True

    def _body(self, source: str, headers: Mapping[str, str]) -> bytes | None:
        """The raw body, or None after answering 411/400/413 (the connection is then closed)."""
        limit = self.intake.settings.max_body
        if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" not in headers:
            self.close_connection = True
            self._reply(411, {"error": "Content-Length is required"})
            return None
        try:
            length = int(headers["content-length"])
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.intake.stats.add("malformed", source)
            self._reply(400, {"error": "Content-Length is not a number"})
            return None
        if length > limit:
            self.close_connection = True
            self.intake.stats.add("too_large", source)
            log.warning("events_body_too_large", source=source, length=length, limit=limit)
            self._reply(413, {"error": f"body too large: at most {limit} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def _unauthorized(self, source: str, *, read: bool) -> None:
        if not read:
            self.close_connection = True
        self.intake.stats.add("unauthorized", source)
        log.warning("events_unauthorized", source=source, client=self.client_address[0])
        self._reply(401, {"error": "unauthorized"},
                    extra={"WWW-Authenticate": 'Bearer realm="cloud-poller events"'})

    def _accept(self, source: str, body: bytes, headers: Mapping[str, str]) -> None:
        ok = 200 if "x-cs-event-id" in headers else 202
        processor = self.intake.processor
        try:
            events = parse_events(body)
        except Malformed as exc:
            self.intake.stats.add("malformed", source)
            log.info("events_malformed", source=source, reason=str(exc))
            self._reply(400, {"error": str(exc)})
            return
        try:
            accepted = processor.submit(source, events)
        except QueueFull as full:
            retry = str(max(1, math.ceil(full.retry_after)))
            log.warning("events_queue_full", source=source, retry_after_s=retry)
            self._reply(503, {"error": "event queue full, retry later"}, extra={"Retry-After": retry})
            return
        if accepted.dropped:
            self._reply(ok, {"status": "dropped", "events": accepted.events, "reason": processor.drop_reason(source)})
            return
        log.debug("events_accepted", source=source, events=accepted.events, targets=accepted.targets,
                  unknown=accepted.unknown)
        self._reply(ok, {"status": "accepted", "events": accepted.events, "targets": accepted.targets,
                         "unknown": accepted.unknown})

    def _reply(self, status: int, body: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

