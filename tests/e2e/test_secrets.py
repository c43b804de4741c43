"""Canary secrets: planted in every credential the config can hold, then every failure
path is driven through the real CLI and every output is searched for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CANARIES = {
    "OS_PASSWORD": "Canary-OsPassword-7f3a",
    "CS_API_KEY": "Canary-CsApiKey-91bd",
    "CS_SECRET_KEY": "Canary-CsSecretKey-c0de",
    "WEBHOOK_SECRET": "Canary-WebhookSecret-55aa",
    "PG_PASSWORD": "Canary-PgPassword-0042",
    "LIBVIRT_PASSWORD": "Canary-LibvirtPassword-beef",
}


def poller(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    installed = shutil.which("poller")
    exe = [installed] if installed else [sys.executable, str(ROOT / "cli.py")]
    return subprocess.run([*exe, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=180)


@pytest.fixture
def clouds() -> Iterator[tuple[object, object]]:
    """Both emulators, running, whose real credentials differ from the canaries."""
    from collectors.cloudstack.emulator import CloudStackEmulator
    from collectors.openstack.emulator import OpenStackEmulator

    with OpenStackEmulator() as os_emu, CloudStackEmulator() as cs_emu:
        os_emu.seed_demo()
        cs_emu.seed_demo()
        yield os_emu, cs_emu


def write_config(path: Path, os_emu: object, cs_emu: object, baseline_url: str) -> None:
    os_auth = dict(os_emu.source_options()["auth"])  # type: ignore[attr-defined]
    os_auth["password"] = "${OS_PASSWORD}"
    cs_options = cs_emu.source_options(api_key="${CS_API_KEY}", secret_key="${CS_SECRET_KEY}")  # type: ignore[attr-defined]
    config = {
        "baseline": {"url": baseline_url},
        "notify": {"sinks": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "${WEBHOOK_SECRET}", "timeout": 1},
            {"name": "file", "type": "jsonl", "path": str(path.parent / "out.jsonl")},
        ]},
        "sources": [
            {"name": "os", "collector": "openstack", "options": {"auth": os_auth}},
            {"name": "cs", "collector": "cloudstack", "options": cs_options},
            {"name": "lv", "collector": "libvirt",
             "options": {"uri": "qemu+tcp://127.0.0.1:1/system", "auth": {"username": "u", "password": "${LIBVIRT_PASSWORD}"}}},
            {"name": "inv", "collector": "static", "options": {"path": str(path.parent / "missing.jsonl")}},
        ],
    }
    path.write_text(yaml.safe_dump(config))


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        for name, canary in CANARIES.items():
            assert canary not in text, f"{name} leaked: ...{text[max(0, text.find(canary) - 200):text.find(canary) + 50]}..."


@pytest.mark.slow
def test_no_secret_in_any_output(clouds: tuple[object, object], tmp_path: Path) -> None:
    """B12: Wrong credentials everywhere, unreachable sinks and databases: no canary in any output."""
    os_emu, cs_emu = clouds
    config = tmp_path / "poller.yaml"
    write_config(config, os_emu, cs_emu, f"sqlite:///{tmp_path / 'b.db'}")
    outputs = []
    for args in (["snapshot"], ["-v", "snapshot"], ["--log-format", "json", "-v", "snapshot", "--dry-run"],
                 ["check-config"], ["sources"], ["diff", "--format", "json"], ["baseline", "export"]):
        result = poller("--config", str(config), *args, cwd=tmp_path, env=CANARIES)
        outputs += [result.stdout, result.stderr]
    assert any("credentials" in o.lower() or "rejected" in o.lower() for o in outputs), "auth failures must be reported"
    # An unreachable PostgreSQL baseline whose URL carries a password.
    write_config(config, os_emu, cs_emu, "postgresql+psycopg://poller:${PG_PASSWORD}@127.0.0.1:1/poller")
    for args in (["snapshot"], ["-v", "snapshot"]):
        result = poller("--config", str(config), *args, cwd=tmp_path, env=CANARIES)
        assert result.returncode != 0
        outputs += [result.stdout, result.stderr]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "poller.yaml"]
    outputs += [p.read_bytes().decode("utf-8", "replace") for p in files]
    assert_clean(outputs)
