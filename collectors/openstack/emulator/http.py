"""The emulator's HTTP plumbing: a threaded server on 127.0.0.1, routing, tokens and faults.

Services register routes here (``keystone``, ``compute``, ``network``, ``others``);
this module checks tokens, applies injected faults (an error status, a delay, a
token revocation, a rewritten ``next`` link, a callback) and logs every request.
It holds no resource logic.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson

from collectors.openstack.emulator.cloud import Cloud


@dataclass
class Token:
    """An issued Keystone token: whose it is, its scope and when it expires."""

    user_id: str
    project_id: str
    expires_at: datetime


@dataclass
class Request:
    """One parsed HTTP request, as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    base: str
    match: re.Match[str] | None = None
    token: Token | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes", "on")

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        query = urlencode(params or {})
        return self.base + path + ("?" + query if query else "")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # send half the body, then close the connection (the ``truncate`` fault)


@dataclass
class Fault:
    """A misbehaviour injected on requests whose path matches ``path`` (a regex, searched).

    The first ``skip`` matching requests pass untouched; the next ``times`` (None:
    all) get the fault. ``status`` answers with that error; ``delay`` sleeps first;
    ``revoke_tokens`` invalidates every token before the request is checked;
    ``next_link`` rewrites the answer's next link (``"repeat"``: the request's own
    URL; any other string: that scheme://host replaces the emulator's); ``call``
    runs in-process with the Request before it is served; ``truncate`` sends half of
    the answer's body under the full Content-Length and closes the connection (F03).
    """

    path: str
    status: int | None = None
    delay: float = 0.0
    skip: int = 0
    times: int | None = 1
    method: str = "GET"
    query: str | None = None
    revoke_tokens: bool = False
    next_link: str | None = None
    call: Callable[[Request], None] | None = None
    truncate: bool = False
    retry_after: str | None = None  # a Retry-After header on the injected error answer
    hits: int = 0

    def applies(self, method: str, path: str, query: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        if self.query is not None and not re.search(self.query, query):
            return False
        self.hits += 1
        if self.hits <= self.skip:
            return False
        return self.times is None or self.hits <= self.skip + self.times


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    token: bool
    auth_methods: tuple[str, ...] = ()  # identity.methods of a POST /v3/auth/tokens


class EmulatorServer:
    """Routes, tokens, faults and the request log around one ThreadingHTTPServer."""

    def __init__(self, cloud: Cloud, ssl_context: ssl.SSLContext | None = None) -> None:
        self.cloud = cloud
        self.ssl_context = ssl_context
        self.routes: list[Route] = []
        self.faults: list[Fault] = []
        self.tokens: dict[str, Token] = {}
        self.token_ttl = timedelta(hours=1)
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"emulator": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        if self.ssl_context is not None:
            httpd.socket = self.ssl_context.wrap_socket(httpd.socket, server_side=True)
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="openstack-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    # -- registration and tokens ------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, *, public: bool = False) -> None:
        self.routes.append(Route(method, re.compile(pattern + r"/?$"), handler, public))

    def issue_token(self, user_id: str, project_id: str) -> tuple[str, Token]:
        token = Token(user_id, project_id, self.cloud.clock() + self.token_ttl)
        value = "gAAAAA" + uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self.tokens[value] = token
        return value, token

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def check_token(self, value: str | None) -> Token | None:
        """The valid, unexpired token ``value`` names, or None."""
        return self._check_token(value)

    def _check_token(self, value: str | None) -> Token | None:
        with self._lock:
            token = self.tokens.get(value or "")
        if token is None or token.expires_at <= self.cloud.clock():
            return None
        return token

    # -- dispatch ----------------------------------------------------------------
    def dispatch(self, req: Request, raw_query: str) -> Response:
        fault = self._fault_for(req.method, req.path, raw_query)
        if fault is not None:
            if fault.call is not None:
                fault.call(req)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.revoke_tokens:
                self.revoke_tokens()
            if fault.status is not None:
                answer = error(fault.status, "injected fault")
                if fault.retry_after is not None:
                    answer.headers["Retry-After"] = fault.retry_after
                return answer
        route = None
        for candidate in self.routes:
            if candidate.method == req.method and (m := candidate.pattern.match(req.path)):
                route, req.match = candidate, m
                break
        if route is None:
            return error(404, "The resource could not be found.")
        if not route.public:
            req.token = self._check_token(req.headers.get("x-auth-token"))
            if req.token is None:
                return error(401, "The request you have made requires authentication.")
        response = route.handler(req)
        if fault is not None and fault.next_link is not None:
            _rewrite_next(response.body, req, raw_query, fault.next_link)
        if fault is not None and fault.truncate:
            response.truncate = True
        return response

    def _fault_for(self, method: str, path: str, query: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.applies(method, path, query):
                    return fault
        return None

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)


def error(status: int, message: str) -> Response:
    """An error body shaped like the OpenStack services' own."""
    titles = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
              406: "notAcceptable", 409: "conflict", 500: "computeFault", 503: "serviceUnavailable"}
    title = titles.get(status, "error")
    body = {title: {"code": status, "message": message},
            "error": {"code": status, "title": title, "message": message}}
    return Response(status, body)


def _rewrite_next(body: Any, req: Request, raw_query: str, how: str) -> None:
    """Rewrite every next link in a listing answer (the ``next_link`` fault)."""
    if not isinstance(body, dict):
        return

    def new(href: str) -> str:
        if how == "repeat":
            return req.base + req.path + ("?" + raw_query if raw_query else "")
        parts = urlsplit(req.base + href if href.startswith("/") else href)
        target = urlsplit(how)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

    for key, value in body.items():
        if key == "next" and isinstance(value, str):
            body[key] = new(value)
        elif (key == "links" or key.endswith("_links")) and isinstance(value, list):
            for link in value:
                if link.get("rel") == "next":
                    link["href"] = new(link["href"])


class _Handler(BaseHTTPRequestHandler):
    """Turns raw HTTP into Request objects and Responses back into bytes."""

    emulator: EmulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "openstack-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            self._send(error(400, "Malformed request body"))
            return
        emulator = self.emulator
        req = Request(self.command, parts.path.rstrip("/") or "/", parse_qs(parts.query, keep_blank_values=True),
                      {k.lower(): v for k, v in self.headers.items()}, body, emulator.base)
        try:
            response = emulator.dispatch(req, parts.query)
        except Exception as exc:  # a handler bug answers 500, like a real service would
            response = error(500, f"emulator error: {type(exc).__name__}")
        emulator.record(LoggedRequest(self.command, req.path, parts.query, response.status,
                                      "x-auth-token" in req.headers, _auth_methods(req)))
        self._send(response)

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else orjson.dumps(response.body)
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if response.truncate:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


def _auth_methods(req: Request) -> tuple[str, ...]:
    """The authentication methods a token request names (empty for any other request)."""
    try:
        return tuple(str(m) for m in req.body["auth"]["identity"]["methods"])
    except (KeyError, TypeError):
        return ()
