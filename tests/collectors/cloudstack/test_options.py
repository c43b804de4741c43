"""Option validation, TLS verification mapping (verify false really turns checks off) and warnings."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.errors import OptionError, SourceUnreachable
from tests.collectors.cloudstack.conftest import run

BASE = {"endpoint": "https://cloud.example.com/client/api", "api_key": "k", "secret_key": "s"}


def build(**options: Any) -> CloudStackCollector:
    return CloudStackCollector("cs1", {**BASE, **options})


class TestValidation:
    @pytest.mark.parametrize(("options", "field"), [
        ({"endpoint": None}, "endpoint"),
        ({"endpoint": "cloud.example.com"}, "endpoint"),
        ({"api_key": ""}, "api_key"),
        ({"secret_key": None}, "secret_key"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": "500"}, "page_size"),
        ({"timeout": -1}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"verify": "/nonexistent/ca.pem"}, "verify"),
        ({"verify": 1}, "verify"),
        ({"expires": 0}, "expires"),
        ({"colour": "blue"}, "colour"),
    ])
    def test_bad_option_names_its_field(self, options: dict[str, Any], field: str) -> None:
        """Each bad option raises OptionError naming sources.cs1.options.<field>."""
        with pytest.raises(OptionError) as caught:
            build(**options)
        assert str(caught.value).startswith(f"sources.cs1.options.{field}:")

    def test_secret_never_in_option_errors(self) -> None:
        """An option error does not repeat the secret key."""
        with pytest.raises(OptionError) as caught:
            build(secret_key="canary-secret-1", page_size=-5)
        assert "canary-secret-1" not in str(caught.value)

    def test_construction_does_no_network_io(self) -> None:
        """Building a collector for an unreachable endpoint succeeds (no I/O in the constructor)."""
        assert build(endpoint="http://127.0.0.1:9/client/api").page_size == 500


class TestVerifyMapping:
    def test_verify_false_turns_checks_off_and_warns(self) -> None:
        """verify: false becomes cs's dangerous_no_tls_verify (requests verify=False) and warns every run."""
        collector = build(verify=False)
        assert collector._client.tls_verify is False
        assert collector.warnings() == collector.warnings() != []
        assert "TLS certificate verification is OFF" in collector.warnings()[0]

    def test_verify_true_keeps_checks_on(self) -> None:
        """verify: true (the default) keeps verification on and gives no warning."""
        for collector in (build(verify=True), build()):
            assert (collector._client.tls_verify, collector.warnings()) == (True, [])

    def test_verify_as_string_from_the_environment(self) -> None:
        """verify: "false" (e.g. from ${ENV}) is false, not a CA path; "true" is true."""
        assert (build(verify="false")._client.tls_verify, build(verify="True")._client.tls_verify) == (False, True)

    def test_verify_path_is_a_ca_bundle(self, tmp_path: Path) -> None:
        """verify: <path> passes the CA bundle path to requests."""
        bundle = tmp_path / "ca.pem"
        bundle.write_text("x")
        assert build(verify=str(bundle))._client.tls_verify == str(bundle)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl CLI)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def tls_emulator(certificate: tuple[str, str]) -> Iterator[CloudStackEmulator]:
    """The emulator over HTTPS with the self-signed certificate."""
    with CloudStackEmulator(tls=certificate) as emu:
        emu.seed_demo()
        yield emu


class TestTls:
    def test_self_signed_refused_with_verify_true(self, tls_emulator: CloudStackEmulator) -> None:
        """With verification on, a self-signed server is refused (SourceUnreachable, TLS named)."""
        collector = CloudStackCollector("cs1", tls_emulator.source_options(verify=True, retries=0))
        listing, _ = run(collector, "cloudstack.zone")
        assert type(listing.error) is SourceUnreachable and "TLS" in str(listing.error)

    @pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    def test_self_signed_accepted_with_verify_false(self, tls_emulator: CloudStackEmulator) -> None:
        """With verify: false the same server is listed (and the collector warns)."""
        collector = CloudStackCollector("cs1", tls_emulator.source_options(verify=False))
        listing, zones = run(collector, "cloudstack.zone")
        assert (listing.complete, len(zones), bool(collector.warnings())) == (True, 2, True)

    def test_ca_bundle_path_verifies(self, tls_emulator: CloudStackEmulator, certificate: tuple[str, str]) -> None:
        """With verify: <the CA file> the server is trusted and verified."""
        collector = CloudStackCollector("cs1", tls_emulator.source_options(verify=certificate[0]))
        listing, zones = run(collector, "cloudstack.zone")
        assert (listing.complete, len(zones), collector.warnings()) == (True, 2, [])
