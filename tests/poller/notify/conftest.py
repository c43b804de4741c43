"""Fixtures for the sink tests: notifications, a scriptable HTTP receiver, RabbitMQ URLs, a driving loop.

Tests that stop, restart or reconfigure a broker do it to the private node of ``rabbit_control``
(tests/private_servers.py), never to the shared broker of POLLER_TEST_AMQP_URL.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kombu
import orjson
import pytest
from requests.structures import CaseInsensitiveDict

from poller.errors import DeliveryError
from poller.notify.base import OutboxRecord
from tests.private_servers import PrivateRabbit

DOCS = Path(__file__).resolve().parents[3] / "docs" / "sinks.md"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def make_records(count: int, *, source: str = "os1", entity_type: str = "compute.server") -> list[OutboxRecord]:
    """Return ``count`` notifications shaped like DESIGN.md's, with distinct ids and keys."""
    actions = ("create", "update", "delete")
    records = []
    for seq in range(1, count + 1):
        action = actions[seq % 3]
        note_id = f"n-{seq:04d}"
        note = {
            "id": note_id,
            "specversion": "1.0",
            "type": f"poller.entity.{action}d",
            "source": source,
            "time": "2026-11-23T08:00:00Z",
            "epoch": "e1",
            "initial": False,
            "entity_type": entity_type,
            "key": f"vm-{seq}",
            "name": f"vm {seq} \u00e9",
            "parent": None,
            "state": "ACTIVE",
            "project": "p1",
            "action": action,
            "hash": f"{seq:016x}",
            "previous_hash": None,
            "changes": [],
            "entity": {"seq": seq},
        }
        records.append(OutboxRecord(seq, source, entity_type, action, note_id, orjson.dumps(note)))
    return records


def drive(
    sink: Any,
    records: Sequence[OutboxRecord],
    *,
    batch: int = 5,
    on_failure: Callable[[DeliveryError], None] | None = None,
    max_failures: int = 50,
) -> list[DeliveryError]:
    """Feed ``records`` to ``sink`` as the dispatcher does: in batches, resuming at ``delivered`` after errors."""
    failures: list[DeliveryError] = []
    pending = list(records)
    while pending:
        try:
            sink.deliver(pending[:batch])
        except DeliveryError as exc:
            assert exc.retryable, str(exc)
            failures.append(exc)
            assert len(failures) <= max_failures, "the sink never recovered"
            pending = pending[exc.delivered :]
            if on_failure is not None:
                on_failure(exc)
            continue
        pending = pending[batch:]
    return failures


def load_verify_recipe() -> Callable[..., bool]:
    """Return the ``verify`` function from the Python recipe in docs/sinks.md (the one users copy)."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    recipe = next(block for block in blocks if "def verify(" in block)
    namespace: dict[str, Any] = {}
    exec(compile(recipe, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@dataclass
class Receipt:
    """One request the receiver got, and the status it answered."""

    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    status: int


@dataclass(frozen=True)
class Answer:
    """What the receiver answers to one request: a status, a body, and a delay before answering."""

    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    echo: bool = False  # answer with the request's path and every header value (a hostile receiver)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that answers from a script (then 200) and records every request."""

    script: deque[Answer] = field(default_factory=deque)
    receipts: list[Receipt] = field(default_factory=list)
    port: int = 0
    tls: tuple[str, str] | None = None  # (certificate, key) files: serve HTTPS
    _server: http.server.ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen (again) on the same port; port 0 the first time."""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = receiver.next_answer()
                receipt = Receipt(self.path, CaseInsensitiveDict(self.headers.items()), body, answer.status)
                with receiver._lock:
                    receiver.receipts.append(receipt)
                time.sleep(answer.delay)
                reply = answer.body
                if answer.echo:
                    reply = (f"echo {self.path} " + " ".join(self.headers.values()) + "\nmore").encode()
                with contextlib.suppress(OSError):
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: connections to the port are refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def next_answer(self) -> Answer:
        with self._lock:
            return self.script.popleft() if self.script else Answer()

    def accepted(self) -> list[Receipt]:
        """The requests answered with a 2xx (the receiver stored them)."""
        with self._lock:
            return [r for r in self.receipts if 200 <= r.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running Receiver, stopped after the test."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (made with the openssl CLI)."""
    if shutil.which("openssl") is None:
        _unavailable("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[str, str]) -> Iterator[Receiver]:
    """A running HTTPS Receiver with a self-signed certificate."""
    server = Receiver(tls=certificate)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    """Skip outside CI; in CI (CI=true) what the test needs must be there, so fail instead."""
    if _ci():
        pytest.fail(f"{reason} (CI=true: .ci/run provides it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """A reachable RabbitMQ: POLLER_TEST_AMQP_URL, else the local default; skip when absent (fail when CI=true)."""
    url = os.environ.get("POLLER_TEST_AMQP_URL") or DEFAULT_AMQP_URL
    connection = kombu.Connection(url, connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=0)
    except Exception:
        _unavailable("no RabbitMQ reachable at POLLER_TEST_AMQP_URL or amqp://127.0.0.1:5672")
    finally:
        connection.release()
    return url


@dataclass
class RabbitControl:
    """Stops and starts the application of the test session's private RabbitMQ node (never the shared broker)."""

    node: PrivateRabbit

    @property
    def url(self) -> str:
        return self.node.url

    def run(self, *args: str) -> None:
        """Run ``rabbitmqctl -n <private node> args``."""
        self.node.ctl(*args)

    def stop_app(self) -> None:
        self.run("stop_app")

    def start_app(self) -> None:
        self.run("start_app")
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            connection = kombu.Connection(self.url, connect_timeout=2)
            try:
                connection.ensure_connection(max_retries=0)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            finally:
                connection.release()


@pytest.fixture
def rabbit_control(private_rabbit: PrivateRabbit) -> Iterator[RabbitControl]:
    """Control of the session's private RabbitMQ node (own name and port); restarts its app if a test left it stopped."""
    control = RabbitControl(private_rabbit)
    yield control
    try:
        control.wait_ready(timeout=1)
    except Exception:
        control.start_app()


@dataclass
class Bound:
    """A unique exchange name and a durable queue bound to it with one pattern."""

    url: str
    exchange: str
    queue: str

    def messages(self) -> list[kombu.Message]:
        """Take every message waiting in the queue."""
        taken = []
        with kombu.Connection(self.url) as connection:
            bound = kombu.Queue(self.queue, durable=True)(connection.channel())
            while (message := bound.get(no_ack=True)) is not None:
                taken.append(message)
        return taken


def bind_exchange(url: str, pattern: str) -> Bound:
    name = f"poller-test-{uuid.uuid4().hex[:10]}"
    with kombu.Connection(url) as connection:
        exchange = kombu.Exchange(name, type="topic", durable=True)
        kombu.Queue(f"{name}-q", exchange=exchange, routing_key=pattern, durable=True)(connection.channel()).declare()
    return Bound(url, name, f"{name}-q")


def raw_body(body: bytes | str) -> bytes:
    """The body as bytes (py-amqp decodes bodies sent with content_encoding utf-8)."""
    return body.encode("utf-8") if isinstance(body, str) else body


def unbind_exchange(bound: Bound) -> None:
    with kombu.Connection(bound.url) as connection:
        channel = connection.channel()
        channel.queue_delete(bound.queue)
        channel.exchange_delete(bound.exchange)


@pytest.fixture
def bound(amqp_url: str) -> Iterator[Bound]:
    """An exchange with a durable queue receiving every routing key (#)."""
    made = bind_exchange(amqp_url, "#")
    yield made
    unbind_exchange(made)


@pytest.fixture
def private_bound(rabbit_control: RabbitControl) -> Iterator[Bound]:
    """Like ``bound``, on the private node that outage tests stop and start."""
    made = bind_exchange(rabbit_control.url, "#")
    yield made
    unbind_exchange(made)
