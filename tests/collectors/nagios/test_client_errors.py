"""The Nagios client's one error boundary, against a scripted HTTP server on 127.0.0.1 (not a real Nagios).

The real Nagios cases (wrong credentials, web server down, an HTML page) are in
test_real_nagios.py; here are the answers a real Nagios cannot be made to give on demand.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from collectors.base import ListContext
from collectors.errors import AuthenticationFailed, CollectorError, ListingIncomplete, SourceUnreachable
from collectors.nagios import types as t
from collectors.nagios.collector import NagiosCollector
from collectors.nagios.errors import NagiosAnswerInvalid

PASSWORD = "PASSWORD-CANARY-nagios"
Answer = tuple[int, str, bytes]


def ok(want: str, data: Any) -> Answer:
    """A successful Nagios JSON answer holding ``data.<want>``."""
    body = {"format_version": 0, "result": {"type_code": 0, "type_text": "Success", "message": ""},
            "data": {want: data}}
    return 200, "application/json", json.dumps(body).encode()


class FakeCgi:
    """Answers each ``<cgi>?query=<q>`` with what ``script`` returns for (cgi, query, call number)."""

    def __init__(self, script: Callable[[str, str, int], Answer], delay: float = 0.0) -> None:
        self.calls: dict[tuple[str, str], int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                cgi = self.path.split("?")[0].rsplit("/", 1)[-1]
                query = self.path.split("query=")[-1].split("&")[0] if "query=" in self.path else ""
                n = fake.calls[(cgi, query)] = fake.calls.get((cgi, query), 0) + 1
                time.sleep(delay)
                status, kind, body = script(cgi, query, n)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/nagios4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeCgi]]:
    started: list[FakeCgi] = []

    def start(script: Callable[[str, str, int], Answer], delay: float = 0.0) -> FakeCgi:
        started.append(FakeCgi(script, delay))
        return started[-1]

    yield start
    for fake in started:
        fake.close()


def collector(url: str, **options: Any) -> NagiosCollector:
    return NagiosCollector("mon", {"url": url, "username": "poller", "password": PASSWORD, "timeout": 5, **options})


def listing_error(c: NagiosCollector, etype: Any = t.HOST) -> CollectorError | None:
    listing = c.list(etype, ListContext(now=datetime.now(UTC)))
    list(listing)
    return listing.error


def probe_error(url: str, **options: Any) -> CollectorError:
    with pytest.raises(CollectorError) as caught:
        collector(url, **options).discover_types()
    assert PASSWORD not in str(caught.value)
    return caught.value


class TestAnswers:
    def test_F01_http_500_is_an_incomplete_listing(self, serve: Callable[..., FakeCgi]) -> None:
        """F01: an HTTP 500 from the web server ends the listing incomplete (nothing deleted), naming the status."""
        fake = serve(lambda cgi, q, n: (500, "text/plain", b"oops"))
        error = listing_error(collector(fake.url))
        assert isinstance(error, NagiosAnswerInvalid) and "HTTP 500" in str(error)

    def test_html_page_says_not_json(self, serve: Callable[..., FakeCgi]) -> None:
        """A 200 with an HTML page (a login page) fails with one line saying it is text/html, not JSON."""
        fake = serve(lambda cgi, q, n: (200, "text/html", b"<html><body>Login</body></html>"))
        error = probe_error(fake.url)
        assert "the answer is text/html, not JSON" in str(error)

    def test_empty_answer_asks_whether_nagios_runs(self, serve: Callable[..., FakeCgi]) -> None:
        """An empty 200 (what the CGIs answer while Nagios is stopped) asks whether Nagios is running."""
        fake = serve(lambda cgi, q, n: (200, "application/json", b"\n"))
        assert "an empty answer; is Nagios running?" in str(probe_error(fake.url))

    def test_json_that_is_not_nagios(self, serve: Callable[..., FakeCgi]) -> None:
        """JSON without Nagios's result object is refused."""
        fake = serve(lambda cgi, q, n: (200, "application/json", b'{"hosts": []}'))
        assert "not a Nagios JSON CGI" in str(probe_error(fake.url))

    def test_nagios_error_result_names_type_code(self, serve: Callable[..., FakeCgi]) -> None:
        """A result with type_code 2 (status file unreadable) names the code and hints at Nagios not running."""
        body = {"result": {"type_code": 2, "type_text": "Error Opening or Reading File", "message": "x"}, "data": {}}
        fake = serve(lambda cgi, q, n: (200, "application/json", json.dumps(body).encode()))
        error = probe_error(fake.url)
        assert "type_code 2 (Error Opening or Reading File)" in str(error) and "is Nagios running" in str(error)

    def test_F08_success_without_data_is_not_an_empty_listing(self, serve: Callable[..., FakeCgi]) -> None:
        """F08: type_code 0 without data.hostlist is incomplete, never read as "no hosts"."""
        body = {"result": {"type_code": 0, "type_text": "Success", "message": ""}, "data": {}}
        fake = serve(lambda cgi, q, n: (200, "application/json", json.dumps(body).encode()))
        error = listing_error(collector(fake.url))
        assert isinstance(error, ListingIncomplete) and "without data.hostlist" in str(error)

    def test_http_404_points_at_the_url_option(self, serve: Callable[..., FakeCgi]) -> None:
        """A 404 says options.url must be the CGI directory."""
        fake = serve(lambda cgi, q, n: (404, "text/html", b"not found"))
        assert "options.url must be the directory" in str(probe_error(fake.url))

    def test_F04_403_is_authentication_failed(self, serve: Callable[..., FakeCgi]) -> None:
        """F04/S11: 403 is AuthenticationFailed (source-wide), without the password."""
        fake = serve(lambda cgi, q, n: (403, "text/html", b"forbidden"))
        error = probe_error(fake.url)
        assert isinstance(error, AuthenticationFailed) and "HTTP 403" in str(error)

    def test_F02_timeout_is_unreachable(self, serve: Callable[..., FakeCgi]) -> None:
        """F02: no answer within options.timeout is SourceUnreachable naming the timeout."""
        fake = serve(lambda cgi, q, n: ok("programstatus", {}), delay=2.0)
        error = probe_error(fake.url, timeout=0.3)
        assert isinstance(error, SourceUnreachable) and "no answer within 0.3 s" in str(error)

    def test_connection_refused_is_unreachable(self) -> None:
        """A closed port is SourceUnreachable ("cannot connect")."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        error = probe_error(f"http://127.0.0.1:{port}/cgi-bin/nagios4")
        assert isinstance(error, SourceUnreachable) and "cannot connect" in str(error)

    def test_S02_tls_failure_is_unreachable(self, serve: Callable[..., FakeCgi]) -> None:
        """S02: https against a server that does not speak TLS fails as a TLS error, one line."""
        fake = serve(lambda cgi, q, n: ok("programstatus", {}))
        error = probe_error(fake.url.replace("http://", "https://"))
        assert isinstance(error, SourceUnreachable) and "TLS" in str(error)


class TestConsistency:
    def test_F12_listings_that_disagree_twice_are_incomplete(self, serve: Callable[..., FakeCgi]) -> None:
        """F12-like: status and object configuration naming different hosts twice -> incomplete, nothing deleted."""
        def script(cgi: str, query: str, n: int) -> Answer:
            record = {"name": "a", "status": 2} if cgi == "statusjson.cgi" else {"name": "b"}
            return ok("hostlist", {record["name"]: record})

        error = listing_error(collector(serve(script).url))
        assert isinstance(error, ListingIncomplete) and "disagreed twice" in str(error)

    def test_one_relist_heals_a_reload(self, serve: Callable[..., FakeCgi]) -> None:
        """When the first read disagrees (Nagios reloading) and the second agrees, the listing is complete."""
        def script(cgi: str, query: str, n: int) -> Answer:
            names = ["a", "b"] if cgi == "statusjson.cgi" or n > 1 else ["a"]
            return ok("hostlist", {name: {"name": name, "status": 2} for name in names})

        c = collector(serve(script).url)
        listing = c.list(t.HOST, ListContext(now=datetime.now(UTC)))
        assert [e.key for e in listing] == ["a", "b"] and listing.complete


def test_every_requests_error_is_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every requests exception class raised by the session leaves the collector as a CollectorError.

    The session's ``get`` is patched to raise each class: most cannot be provoked on loopback.
    """
    classes = set()
    pending = [requests.exceptions.RequestException]
    while pending:
        cls = pending.pop()
        classes.add(cls)
        pending.extend(cls.__subclasses__())
    c = collector("http://127.0.0.1:9/cgi-bin/nagios4")
    for cls in sorted(classes, key=lambda k: k.__name__):
        text = f"upstream text https://poller:{PASSWORD}@host/"
        try:
            error = cls(text)
        except TypeError:  # JSONDecodeError(msg, doc, pos)
            error = cls(text, text, 0)

        def boom(*args: Any, _error: Exception = error, **kwargs: Any) -> None:
            raise _error

        monkeypatch.setattr(c._client._session, "get", boom)
        with pytest.raises(CollectorError) as caught:
            c.discover_types()
        assert PASSWORD not in str(caught.value), cls
