"""fetch() of single entities, clouds.yaml (OS_CLIENT_CONFIG_FILE) and TLS, against the emulator."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors.errors import SourceUnreachable
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.openstack.conftest import run

Make = Callable[..., OpenStackCollector]


class TestFetch:
    """fetch re-reads one entity; None once the API answers 404."""

    @pytest.mark.parametrize(("name", "kind"), [
        ("compute.server", "compute.server"), ("network.port", "network.port"),
        ("image.image", "image.image"), ("block_storage.volume", "block_storage.volume"),
        ("network.security_group", "network.security_group"), ("block_storage.snapshot", "block_storage.snapshot"),
    ])
    def test_fetch_existing(self, emulator: OpenStackEmulator, make_collector: Make, name: str, kind: str) -> None:
        """An existing entity comes back mapped like in a listing."""
        collector = make_collector()
        record = emulator.cloud.all(kind)[0]
        entity = collector.fetch(collector.entity_type(name), record["id"])
        assert entity is not None and entity.key == record["id"] and entity.type == name
        listed = {e.key: e for e in run(collector, name)[1]}
        assert entity.parent == listed[record["id"]].parent

    @pytest.mark.parametrize("name", ["compute.server", "network.port", "image.image", "block_storage.volume"])
    def test_fetch_gone(self, make_collector: Make, name: str) -> None:
        """A 404 is None."""
        collector = make_collector()
        assert collector.fetch(collector.entity_type(name), "00000000-0000-0000-0000-000000000000") is None

    def test_fetch_deleted_server(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """A server deleted after it was listed fetches as None."""
        collector = make_collector()
        victim = emulator.seeded.servers[0]["id"]
        emulator.cloud.delete("compute.server", victim)
        assert collector.fetch(collector.entity_type("compute.server"), victim) is None

    def test_translate_event(self, make_collector: Make) -> None:
        """The collector maps a Nova notification to its server."""
        event = {"event_type": "compute.instance.delete.end", "payload": {"instance_id": "abc"}}
        assert make_collector().translate_event(event) == [("compute.server", "abc")]


class TestCloudsYaml:
    """A cloud named in clouds.yaml, found through OS_CLIENT_CONFIG_FILE."""

    def test_cloud_from_clouds_yaml(self, emulator: OpenStackEmulator, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """options.cloud reads the named entry from the file OS_CLIENT_CONFIG_FILE points at."""
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump(emulator.clouds_yaml("lab")))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        collector = OpenStackCollector("os-yaml", {"cloud": "lab"})
        listing, items = run(collector, "compute.flavor")
        collector.close()
        assert listing.complete and len(items) == 3


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openstack-emulator")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_emulator(tmp_path: Path) -> Iterator[tuple[OpenStackEmulator, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with OpenStackEmulator(ssl_context=context) as emu:
        emu.seed_demo()
        yield emu, cert


class TestTls:
    """HTTPS endpoints: an untrusted certificate is one clear line; cacert makes it work."""

    def test_untrusted_certificate(self, tls_emulator: tuple[OpenStackEmulator, Path]) -> None:
        """S02: A self-signed certificate without cacert fails as SourceUnreachable naming TLS."""
        emulator, _ = tls_emulator
        collector = OpenStackCollector("os-tls", emulator.source_options())
        listing, _ = run(collector, "compute.flavor")
        assert isinstance(listing.error, SourceUnreachable)
        assert "TLS" in str(listing.error) and "os-tls" in str(listing.error)

    def test_cacert_trusts_it(self, tls_emulator: tuple[OpenStackEmulator, Path]) -> None:
        """S02: With cacert pointing at the certificate the listing succeeds over HTTPS."""
        emulator, cert = tls_emulator
        collector = OpenStackCollector("os-tls", emulator.source_options(cacert=str(cert)))
        listing, items = run(collector, "compute.flavor")
        assert listing.complete, listing.error
        assert len(items) == 3
