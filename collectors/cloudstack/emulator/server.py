"""The emulator's HTTP side: a threaded server on 127.0.0.1 speaking CloudStack's ``/client/api``.

Owns request parsing (GET query string, POST form body, both merged like a servlet's
parameter map), signature checks (``signing.signature_problem``), injected faults
(429, 530, any status, delays, changes between pages, commands unavailable with 432)
and the ``CloudStackEmulator`` handle tests and ``poller demo`` use. It binds only to
127.0.0.1, never logs request lines (a GET URL carries the API key and signature),
and never prints its secret key.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from collectors.cloudstack.emulator.commands import (
    CAPABILITIES_COMMAND,
    COMMANDS_BY_LOWER,
    ApiError,
    capabilities,
    dump,
    error_body,
    list_records,
)
from collectors.cloudstack.emulator.inventory import Inventory
from collectors.cloudstack.emulator.seed import DemoCloud, apply_demo_changes, seed_demo, seed_scale
from collectors.cloudstack.signing import signature_problem

API_PATH = "/client/api"
JSON_TYPE = "application/json; charset=UTF-8"
UNAUTHORIZED_TEXT = "unable to verify user credentials and/or request signature"
LIMIT_TEXT = "The given user has reached his/her account api limit, please retry after 1000 ms."
INTERNAL_TEXT = "Internal error executing command, please contact your system administrator"
UNAVAILABLE_TEXT = "The given command does not exist or it is not available for user"
CS_ERROR_CODES = {429: 4250, 431: 4350, 432: 9999, 530: 4250}


@dataclass
class Fault:
    """One injected behaviour for a command (optionally one page): an error, a delay or a callback."""

    command: str
    page: int | None
    times: int | None
    status: int | None = None
    errortext: str | None = None
    delay: float = 0.0
    callback: Callable[[Inventory], None] | None = None
    body: dict[str, Any] | None = None  # answer this instead (a malformed shape, B15)

    def matches(self, command: str, page: int) -> bool:
        """Whether this fault applies to a request for ``command`` and ``page``."""
        return self.command.lower() == command.lower() and (self.page is None or self.page == page)


@dataclass(frozen=True)
class SeenRequest:
    """What the emulator received: method, the raw path (with any query) and the parameter names."""

    method: str
    path: str
    params: tuple[str, ...]
    command: str
    page: int


class CloudStackEmulator:
    """A CloudStack management server's list API on 127.0.0.1, with an in-process inventory.

    Use as a context manager or with ``start()``/``stop()``. ``endpoint`` is the URL of
    ``/client/api``; ``source_options()`` the options of a poller source pointing at it.
    ``tls=(certfile, keyfile)`` serves HTTPS instead of HTTP.
    """

    def __init__(self, *, max_page_size: int = 500, api_key: str | None = None, secret_key: str | None = None,
                 inventory: Inventory | None = None, tls: tuple[str, str] | None = None,
                 max_concurrent: int | None = None) -> None:
        self.max_page_size = max_page_size
        # At most this many requests are answered at once; the others wait their turn, as
        # behind a management server's bounded request threads (L03). None: no limit.
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self.in_flight = 0
        self.peak_in_flight = 0
        self.tls = tls
        self.api_key = api_key or secrets.token_urlsafe(48)
        self.secret_key = secret_key or secrets.token_urlsafe(48)
        self.inventory = inventory or Inventory()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests: list[SeenRequest] = []
        self.demo: DemoCloud | None = None
        self._faults: list[Fault] = []
        self._truncations: list[Fault] = []
        self._disabled: set[str] = set()
        self._forbidden: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> CloudStackEmulator:
        """Listen on 127.0.0.1 at a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("BoundHandler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cloudstack-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (pending delays are cut short)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CloudStackEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` was called (until the next ``start()``)."""
        return self._stopping.is_set()

    @property
    def endpoint(self) -> str:
        """The API URL, e.g. ``http://127.0.0.1:41234/client/api``."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{API_PATH}"

    def source_options(self, **overrides: Any) -> dict[str, Any]:
        """The ``options`` mapping of a poller source (collector ``cloudstack``) for this emulator."""
        options: dict[str, Any] = {"endpoint": self.endpoint, "api_key": self.api_key,
                                   "secret_key": self.secret_key, "page_size": min(500, self.max_page_size),
                                   "timeout": 10, "retries": 2}
        options.update(overrides)
        return options

    # -- content -----------------------------------------------------------------------------------

    def seed_demo(self) -> DemoCloud:
        """Fill the inventory with a small realistic cloud (2 zones, 6 hosts, 6 VMs...)."""
        self.demo = seed_demo(self.inventory)
        return self.demo

    def apply_demo_changes(self) -> dict[str, str]:
        """Deploy a VM, stop one, destroy one, attach a volume; returns the ids by change (see seed.py)."""
        if self.demo is None:
            raise RuntimeError("seed_demo() first")
        return apply_demo_changes(self.inventory, self.demo)

    def seed_scale(self, vms: int) -> DemoCloud:
        """Fill the inventory with 100 hosts and ``vms`` VMs."""
        self.demo = seed_scale(self.inventory, vms)
        return self.demo

    def tick(self, step: int = 1) -> None:
        """Move usage counters and heartbeats, as an idle live cloud does."""
        self.inventory.tick(step)

    # -- faults ------------------------------------------------------------------------------------

    def inject_error(self, command: str, status: int, *, page: int | None = None, times: int | None = 1,
                     errortext: str | None = None) -> None:
        """Answer ``command`` (optionally only ``page``) with an HTTP error ``times`` times (None: always)."""
        self._add(Fault(command, page, times, status=status, errortext=errortext))

    def inject_delay(self, command: str, seconds: float, *, page: int | None = None, times: int | None = 1) -> None:
        """Hold the answer to ``command`` for ``seconds`` (to trip the client's timeout)."""
        self._add(Fault(command, page, times, delay=seconds))

    def on_page(self, command: str, page: int, callback: Callable[[Inventory], None], *,
                times: int | None = 1) -> None:
        """Run ``callback(inventory)`` just before answering ``page`` of ``command`` (changes between pages)."""
        self._add(Fault(command, page, times, callback=callback))

    def inject_body(self, command: str, body: dict[str, Any], *, page: int | None = None,
                    times: int | None = 1) -> None:
        """Answer ``command`` (one page, or every page) with ``body`` and HTTP 200 (a wrong shape, B15)."""
        self._add(Fault(command, page, times, body=body))

    def inject_truncation(self, command: str, *, page: int | None = None, times: int | None = 1) -> None:
        """Answer ``command`` (one page, or every page) with half of its JSON body, then close the
        connection: the Content-Length promises more than is sent (a connection reset mid-body, F03)."""
        with self._lock:
            self._truncations.append(Fault(command, page, times))

    def take_truncation(self, command: str, page: int) -> bool:
        """Whether this answer is to be cut short (used up once)."""
        with self._lock:
            for fault in self._truncations:
                if fault.matches(command, page) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return True
        return False

    def disable_command(self, command: str) -> None:
        """Make ``command`` unavailable to the caller (answered with 432)."""
        self._disabled.add(command.lower())

    def forbid_command(self, command: str) -> None:
        """Deny ``command`` to the caller's role: answered 401, as recent management servers do."""
        self._forbidden.add(command.lower())

    def clear_faults(self) -> None:
        """Forget every injected fault, disabled and forbidden command."""
        with self._lock:
            self._faults.clear()
            self._disabled.clear()
            self._forbidden.clear()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_faults(self, command: str, page: int) -> list[Fault]:
        """The faults that apply to this request, each used up once."""
        with self._lock:
            hits = [fault for fault in self._faults if fault.matches(command, page)]
            for fault in hits:
                if fault.times is not None:
                    fault.times -= 1
            self._faults = [fault for fault in self._faults if fault.times is None or fault.times > 0]
            return hits

    # -- one request -------------------------------------------------------------------------------

    def limited_answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``answer`` inside the concurrency limit (when one is set), counting the requests in flight."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            with self._lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.answer(method, path, params)
        finally:
            with self._lock:
                self.in_flight -= 1
            if self._slots is not None:
                self._slots.release()

    def answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The (HTTP status, JSON body) the management server would answer to these parameters."""
        lowered = {name.lower(): value for name, value in params.items()}
        command = COMMANDS_BY_LOWER.get(lowered.get("command", "").lower(), lowered.get("command", ""))
        page = _int_or(lowered.get("page"), 1)
        with self._lock:
            self.requests.append(SeenRequest(method, path, tuple(sorted(params)), command, page))
        known = command in COMMANDS_BY_LOWER.values()
        if not known or signature_problem(params, {self.api_key: self.secret_key}, self.clock()) or (
                command.lower() in self._forbidden):
            # ApiServer.verifyRequest answers unknown commands, bad signatures and commands the
            # caller's role may not use (the API checker's PermissionDeniedException) alike: 401.
            return 401, error_body(command, ApiError(401, UNAUTHORIZED_TEXT, None))
        if command.lower() in self._disabled:
            return 432, error_body(command, ApiError(432, UNAVAILABLE_TEXT, 9999))
        for fault in self.take_faults(command, page):
            if fault.delay:
                self._stopping.wait(fault.delay)
            if fault.callback is not None:
                fault.callback(self.inventory)
            if fault.body is not None:
                return 200, fault.body
            if fault.status is not None:
                text = fault.errortext or {429: LIMIT_TEXT}.get(fault.status, INTERNAL_TEXT)
                return fault.status, error_body(command, ApiError(fault.status, text, CS_ERROR_CODES.get(fault.status)))
        if command == CAPABILITIES_COMMAND:
            return 200, capabilities()
        try:
            return 200, list_records(self.inventory, command, params, self.max_page_size)
        except ApiError as error:
            return error.status, error_body(command, error)


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class _Handler(BaseHTTPRequestHandler):
    """Routes ``/client/api`` GET and POST requests to the emulator; anything else is 404."""

    emulator: CloudStackEmulator
    protocol_version = "HTTP/1.1"
    server_version = "Apache-Coyote/1.1"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        if self.emulator.stopped:
            self.close_connection = True  # a kept-alive connection must not outlive stop()
            return
        url = urlsplit(self.path)
        if url.path.rstrip("/") != API_PATH:
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            return
        params: dict[str, str] = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True) + parse_qsl(
                body.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(name, value)  # a servlet's getParameter: the first value wins
        status, payload = self.emulator.limited_answer(self.command, self.path, params)
        lowered = {name.lower(): value for name, value in params.items()}
        cut = status == 200 and self.emulator.take_truncation(lowered.get("command", ""), _int_or(lowered.get("page"), 1))
        self._send(status, dump(payload), JSON_TYPE, cut=cut)

    def _send(self, status: int, body: bytes, content_type: str, *, cut: bool = False) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if cut:  # half the body, then the connection goes away (inject_truncation)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during an injected delay)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - overrides http.server
        """Log nothing: a request line may carry an API key and a signature."""
