"""Credentials through openAuth against a real libvirtd on 127.0.0.1 with SASL (DIGEST-MD5), serving the test driver.

The daemon runs from a private config (TCP on a free loopback port, sockets and logs in a
temporary directory, no hypervisor driver modules: LIBVIRT_DRIVER_DIR points at an empty
directory) with a private SASL database. Needs Debian's libvirt-daemon, sasl2-bin and libsasl2-modules;
skipped, saying so, where they are not installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from collectors.errors import AuthenticationFailed
from collectors.libvirt import LibvirtCollector

from .conftest import listed, run_listing

LIBVIRTD = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
DIGEST_MD5_PLUGINS = glob.glob("/usr/lib/*/sasl2/libdigestmd5.so*") + glob.glob("/usr/lib/sasl2/libdigestmd5.so*")
USER = "poller"
PASSWORD = "daemonCanary-91c4e"
WRONG_PASSWORD = "wrongCanary-03aa7"

pytestmark = [
    pytest.mark.skipif(
        not (os.access(LIBVIRTD, os.X_OK) and os.access(SASLPASSWD2, os.X_OK) and DIGEST_MD5_PLUGINS),
        reason="needs libvirtd (apt: libvirt-daemon), saslpasswd2 (apt: sasl2-bin), DIGEST-MD5 (apt: libsasl2-modules)",
    ),
    pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0, reason="runs libvirtd in privileged mode (root)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, daemon: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"libvirtd exited with {daemon.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("libvirtd did not listen in time")


@pytest.fixture(scope="module")
def sasl_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start libvirtd with SASL on a free loopback port; yield its test-driver URI; stop it."""
    home = tmp_path_factory.mktemp("lvd")
    (home / "sasl").mkdir()
    (home / "run").mkdir()
    (home / "drivers").mkdir()
    (home / "sasl" / "libvirt.conf").write_text(f"mech_list: digest-md5\nsasldb_path: {home / 'passwd.db'}\n")
    subprocess.run(
        [SASLPASSWD2, "-p", "-c", "-f", str(home / "passwd.db"), "-a", "libvirt", USER],
        input=PASSWORD.encode(),
        check=True,
        timeout=30,
    )
    port = _free_port()
    (home / "libvirtd.conf").write_text(
        "listen_tls = 0\nlisten_tcp = 1\n"
        f'listen_addr = "127.0.0.1"\ntcp_port = "{port}"\nauth_tcp = "sasl"\n'
        f'unix_sock_dir = "{home / "run"}"\nauth_unix_ro = "none"\nauth_unix_rw = "none"\n'
        f'log_outputs = "3:file:{home / "libvirtd.log"}"\n'
    )
    env = {**os.environ, "SASL_CONF_PATH": str(home / "sasl"), "LIBVIRT_DRIVER_DIR": str(home / "drivers")}
    command = [LIBVIRTD, "--listen", "--config", str(home / "libvirtd.conf"), "--pid-file", str(home / "pid")]
    daemon = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, daemon, time.monotonic() + 20)
        yield f"test+tcp://127.0.0.1:{port}/default"
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)


class TestSaslAuthentication:
    def test_right_credentials_list_domains(self, sasl_uri: str) -> None:
        """With the right username and password the remote test driver's domain is listed."""
        collector = LibvirtCollector("lv1", {"uri": sasl_uri, "auth": {"username": USER, "password": PASSWORD}})
        domains = listed(collector, "libvirt.domain")
        assert [domain.name for domain in domains.values()] == ["test"]

    def test_wrong_password_is_authentication_failed(self, sasl_uri: str, capfd: pytest.CaptureFixture[str]) -> None:
        """B11: A wrong password gives one AuthenticationFailed line, an incomplete listing and no secret anywhere."""
        collector = LibvirtCollector("lv1", {"uri": sasl_uri, "auth": {"username": USER, "password": WRONG_PASSWORD}})
        listing, entities = run_listing(collector, "libvirt.domain")
        assert not listing.complete and entities == {}
        assert isinstance(listing.error, AuthenticationFailed)
        message = str(listing.error)
        assert "\n" not in message and message.startswith("source lv1: libvirt at test+tcp://127.0.0.1:")
        shown = message + "".join(capfd.readouterr())
        assert WRONG_PASSWORD not in shown and PASSWORD not in shown

    def test_no_credentials_is_authentication_failed(self, sasl_uri: str) -> None:
        """Without auth options the SASL server's request is refused and the listing fails as an auth failure."""
        listing, _ = run_listing(LibvirtCollector("lv1", {"uri": sasl_uri}), "libvirt.domain")
        assert isinstance(listing.error, AuthenticationFailed)

    def test_unknown_user_is_authentication_failed(self, sasl_uri: str) -> None:
        """An unknown user is an authentication failure too."""
        collector = LibvirtCollector("lv1", {"uri": sasl_uri, "auth": {"username": "nobody", "password": PASSWORD}})
        listing, _ = run_listing(collector, "libvirt.domain")
        assert isinstance(listing.error, AuthenticationFailed)
