"""Failures of the libvirt collector: each is one clear line naming the source and URI, and an incomplete listing."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
import structlog

from collectors.errors import AuthenticationFailed, ListingIncomplete, SourceUnreachable, TypeUnavailable
from collectors.libvirt import LibvirtCollector
from collectors.libvirt.connection import ConnectSettings, LibvirtSession, redact_uri

from .conftest import Node, run_listing

CANARY_URI_PASSWORD = "uriCanary-7f3a9"
CANARY_AUTH_PASSWORD = "authCanary-52bd1"
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A loopback port nobody listens on (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """A TCP server on 127.0.0.1 (port 0) that either hangs up at once or accepts and stays silent."""

    def __init__(self, hang_up: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.hang_up = hang_up
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.hang_up:
                conn.close()
            else:
                self.accepted.append(conn)

    def close(self) -> None:
        """Stop accepting and close every held connection (which also frees a waiting libvirt thread)."""
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hang_up_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(hang_up=True)
    yield server
    server.close()


@pytest.fixture
def silent_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(hang_up=False)
    yield server
    server.close()


def assert_one_line_failure(collector: LibvirtCollector, kind: type[Exception]) -> str:
    """List domains; the listing must be incomplete, yield nothing, and carry one line of error of ``kind``."""
    listing, entities = run_listing(collector, "libvirt.domain")
    assert not listing.complete
    assert entities == {}
    assert isinstance(listing.error, kind), repr(listing.error)
    message = str(listing.error)
    assert "\n" not in message and message.startswith("source lv1: ")
    return message


class TestMissingLibrary:
    def test_missing_libvirt_python_is_one_line_naming_the_extra(self, node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without libvirt-python a listing fails with one line saying which extra to install."""
        # The one thing mocked here: libvirt-python is installed, so its import is made to fail.
        monkeypatch.setitem(sys.modules, "libvirt", None)
        message = assert_one_line_failure(node.collector(), ListingIncomplete)
        assert "pip install 'cloud-poller[libvirt]'" in message

    def test_options_validate_without_libvirt_python(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Constructing the collector (option validation) does not need libvirt-python."""
        # Mocked as above: the import of libvirt is made to fail.
        monkeypatch.setitem(sys.modules, "libvirt", None)
        collector = LibvirtCollector("lv1", {"uri": "qemu:///system"})
        assert collector.uri == "qemu:///system"


class TestBadUris:
    def test_missing_test_node_file(self, tmp_path: Path) -> None:
        """A test-driver URI naming no file fails with one line naming the path."""
        missing = tmp_path / "missing.xml"
        collector = LibvirtCollector("lv1", {"uri": f"test://{missing}"})
        message = assert_one_line_failure(collector, SourceUnreachable)
        assert str(missing) in message

    def test_malformed_node_file_error_is_flattened(self, node: Node) -> None:
        """libvirt's multi-line XML parse error reaches the user as one line."""
        node.path.write_text('<node>\n  <domain type="test">\n    <name>x</name>\n</node>\n')
        message = assert_one_line_failure(node.collector(), SourceUnreachable)
        assert "mismatch" in message

    def test_unknown_driver(self) -> None:
        """A URI no libvirt driver serves fails with one line naming the URI."""
        message = assert_one_line_failure(LibvirtCollector("lv1", {"uri": "nosuchdriver:///x"}), SourceUnreachable)
        assert "nosuchdriver:///x" in message


class TestUnreachable:
    def test_refused_connection(self) -> None:
        """A refused TCP connection fails with one line naming the URI."""
        uri = f"qemu+tcp://127.0.0.1:{free_port()}/system"
        message = assert_one_line_failure(LibvirtCollector("lv1", {"uri": uri}), SourceUnreachable)
        assert uri in message and "refused" in message

    def test_server_hanging_up(self, hang_up_server: LoopbackServer) -> None:
        """A server that closes the connection at once fails the listing with one line."""
        uri = f"qemu+tcp://127.0.0.1:{hang_up_server.port}/system"
        assert_one_line_failure(LibvirtCollector("lv1", {"uri": uri}), SourceUnreachable)

    def test_silent_server_times_out(self, silent_server: LoopbackServer) -> None:
        """A server that accepts and never answers fails after ``timeout`` seconds, naming the timeout."""
        uri = f"qemu+tcp://127.0.0.1:{silent_server.port}/system"
        message = assert_one_line_failure(LibvirtCollector("lv1", {"uri": uri, "timeout": 0.5}), SourceUnreachable)
        assert "no answer within 0.5 s" in message


class TestSecrets:
    def test_passwords_never_in_errors_options_or_logs(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Neither the URI's password nor the auth password appears in errors, options, warnings or output."""
        uri = f"qemu+tcp://admin:{CANARY_URI_PASSWORD}@127.0.0.1:{free_port()}/system"
        options = {"uri": uri, "auth": {"username": "admin", "password": CANARY_AUTH_PASSWORD}, "readonly": False}
        collector = LibvirtCollector("lv1", options)
        with structlog.testing.capture_logs() as logs:
            message = assert_one_line_failure(collector, SourceUnreachable)
        assert "qemu+tcp://admin@127.0.0.1:" in message
        shown = " ".join([message, repr(collector.options), *collector.warnings(), repr(logs), collector.uri])
        shown += repr(collector._settings) + "".join(capsys.readouterr())
        assert CANARY_URI_PASSWORD not in shown
        assert CANARY_AUTH_PASSWORD not in shown

    def test_redact_uri(self) -> None:
        """redact_uri drops the password of the user info and password-like query values."""
        assert redact_uri("qemu+tcp://u:p%40ss@h:16509/system?x=1") == "qemu+tcp://u@h:16509/system?x=1"
        assert redact_uri("qemu+ssh://u@h/system?password=abc&mode=legacy") == "qemu+ssh://u@h/system?password=***&mode=legacy"
        assert redact_uri("qemu:///system") == "qemu:///system"


class TestTranslation:
    """libvirt errors other than those the test driver can produce, translated by the one boundary.

    The error values are made by hand (libvirtError with a set ``err`` tuple): no server here
    answers with them. The session itself is real (test:///default).
    """

    @staticmethod
    def fake_error(code: int, message: str) -> libvirt.libvirtError:
        error = libvirt.libvirtError("made by the test")
        error.err = (code, libvirt.VIR_FROM_REMOTE, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
        return error

    def test_auth_failure_is_authentication_failed(self) -> None:
        """VIR_ERR_AUTH_FAILED becomes AuthenticationFailed with the password masked."""
        settings = ConnectSettings("lv1", "test:///default", "admin", CANARY_AUTH_PASSWORD)
        with LibvirtSession(settings) as session:
            raw = self.fake_error(libvirt.VIR_ERR_AUTH_FAILED, f"authentication failed:\n bad {CANARY_AUTH_PASSWORD}")
            error = session.translate(raw, "connect", connecting=True)
        assert isinstance(error, AuthenticationFailed)
        assert CANARY_AUTH_PASSWORD not in str(error) and "\n" not in str(error)

    def test_translated_error_keeps_its_cause(self) -> None:
        """A translated error is chained to the libvirtError it came from."""
        with LibvirtSession(ConnectSettings("lv1", "test:///default")) as session:
            raw = self.fake_error(libvirt.VIR_ERR_INTERNAL_ERROR, "odd")
            error = session.translate(raw, "reading a domain")
        assert error.__cause__ is raw

    def test_cause_dropped_when_it_holds_a_secret(self) -> None:
        """A libvirtError whose own text holds the password is not chained (tracebacks would show it)."""
        settings = ConnectSettings("lv1", "test:///default", "admin", CANARY_AUTH_PASSWORD)
        with LibvirtSession(settings) as session:
            raw = self.fake_error(libvirt.VIR_ERR_AUTH_FAILED, f"rejected {CANARY_AUTH_PASSWORD}")
            error = session.translate(raw, "connect", connecting=True)
        assert error.__cause__ is None and error.__suppress_context__

    def test_no_support_while_listing_is_type_unavailable(self) -> None:
        """VIR_ERR_NO_SUPPORT while listing a type makes the type unavailable."""
        with LibvirtSession(ConnectSettings("lv1", "test:///default")) as session:
            error = session.translate(self.fake_error(libvirt.VIR_ERR_NO_SUPPORT, "nope"), "listing x", listing=True)
        assert isinstance(error, TypeUnavailable)

    def test_rpc_error_mid_listing_is_unreachable(self) -> None:
        """A lost connection (VIR_ERR_RPC) during a listing is SourceUnreachable."""
        with LibvirtSession(ConnectSettings("lv1", "test:///default")) as session:
            error = session.translate(self.fake_error(libvirt.VIR_ERR_RPC, "lost"), "reading a domain")
        assert isinstance(error, SourceUnreachable)

    def test_other_errors_make_the_listing_incomplete(self) -> None:
        """Any other libvirt error while reading is a plain ListingIncomplete."""
        with LibvirtSession(ConnectSettings("lv1", "test:///default")) as session:
            error = session.translate(self.fake_error(libvirt.VIR_ERR_INTERNAL_ERROR, "odd"), "reading a domain")
        assert type(error) is ListingIncomplete


class TestQuietLibvirt:
    def test_libvirt_prints_nothing_to_stderr(self) -> None:
        """Handled libvirt errors (unsupported type, refused flag, refused connection) print nothing to stderr."""
        script = (
            "from datetime import datetime, timezone\n"
            "from collectors.base import ListContext\n"
            "from collectors.libvirt import LibvirtCollector\n"
            "ctx = ListContext(now=datetime.now(timezone.utc))\n"
            f"for uri in ('test:///default', 'qemu+tcp://127.0.0.1:{free_port()}/system'):\n"
            "    c = LibvirtCollector('lv1', {'uri': uri})\n"
            "    for t in c.entity_types:\n"
            "        list(c.list(t, ctx))\n"
        )
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


class TestFlagFallback:
    def test_refused_inactive_flag_falls_back_and_logs_once(self, node: Node) -> None:
        """The test driver refuses VIR_NETWORK_XML_INACTIVE: networks still list, with one info line per collector."""
        collector = node.collector()
        with structlog.testing.capture_logs() as logs:
            first, entities = run_listing(collector, "libvirt.network")
            second, _ = run_listing(collector, "libvirt.network")
        assert first.complete and second.complete and entities
        refused = [entry for entry in logs if entry["event"] == "libvirt_xml_flag_refused"]
        assert len(refused) == 1 and refused[0]["object"] == "network"
