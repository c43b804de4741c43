"""S05 through the installed CLI: ``poller config show`` masks every secret, ``*_file`` secrets
authenticate against the emulators, and group/world-readable secret files are warned about or refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_cli import poller

CANARIES = {"inline": "Canary-S05-Inline-a1b2", "env": "Canary-S05-Env-c3d4", "file": "Canary-S05-File-e5f6",
            "url": "Canary-S05-Url-0a0b"}


def write_config(path: Path, doc: dict[str, Any], mode: int = 0o600) -> Path:
    path.write_text(yaml.safe_dump(doc))
    path.chmod(mode)
    return path


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for name, canary in CANARIES.items():
            assert canary not in text, f"the {name} secret leaked"


@pytest.fixture
def secret_config(tmp_path: Path) -> Path:
    """A config with a secret written inline, one from ${ENV}, one from a *_file and a URL password."""
    (tmp_path / "webhook.secret").write_text(CANARIES["file"] + "\n")
    (tmp_path / "webhook.secret").chmod(0o600)
    doc = {
        "baseline": {"url": f"sqlite:///{tmp_path}/b.db"},
        "notify": {"sinks": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret_file": "webhook.secret"},
            {"name": "bus", "type": "amqp", "url": f"amqp://poller:{CANARIES['url']}@127.0.0.1:1//", "exchange": "x"},
        ]},
        "sources": [{"name": "cs", "collector": "cloudstack",
                     "options": {"endpoint": "http://127.0.0.1:1/client/api", "api_key": CANARIES["inline"],
                                 "secret_key": "${S05_SECRET}"}}],
        "events": {"sources": {"cs": {"hmac_secret": "${S05_SECRET}"}}},
    }
    return write_config(tmp_path / "poller.yaml", doc)


def test_S05_config_show_prints_effective_config_with_every_secret_masked(secret_config: Path) -> None:
    """S05: `poller config show` (YAML and --format json) prints the resolved configuration, exit 0, with
    every secret value (inline, ${ENV}, *_file, URL password) as *** and no secret text in stdout or stderr."""
    env = {"S05_SECRET": CANARIES["env"]}
    shown = poller("config", "show", cwd=secret_config.parent, env=env)
    as_json = poller("config", "show", "--format", "json", cwd=secret_config.parent, env=env)
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr + as_json.stderr
    assert_no_canary(shown.stdout, shown.stderr, as_json.stdout, as_json.stderr)
    for document in (yaml.safe_load(shown.stdout), json.loads(as_json.stdout)):
        sinks = {s["name"]: s["options"] for s in document["notify"]["sinks"]}
        assert sinks["hook"]["secret"] == "***" and sinks["bus"]["url"] == "amqp://poller:***@127.0.0.1:1//"
        options = document["sources"][0]["options"]
        assert options == {"endpoint": "http://127.0.0.1:1/client/api", "api_key": "***", "secret_key": "***"}
        assert document["events"]["sources"]["cs"]["hmac_secret"] == "***"
        assert document["service"]["refuse_readable_secrets"] is False and document["deletion"]["min_misses"] == 1


def test_S05_config_show_of_an_invalid_config_is_one_line(tmp_path: Path) -> None:
    """S05: `poller config show` on an invalid config prints the usual one error line naming the key, exit 2."""
    write_config(tmp_path / "poller.yaml", {"service": {"workers": "many"}, "sources": [{"name": "x", "collector": "noop"}]})
    shown = poller("--log-format", "console", "config", "show", cwd=tmp_path)
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.strip().splitlines() == ["poller: error: ./poller.yaml: service.workers: must be an integer >= 1"]


def test_S05_readable_config_warns_and_refusal_exits_2(secret_config: Path) -> None:
    """S05: a 0644 config holding an inline secret gives one warning naming the file and mode (never the
    secret); with service.refuse_readable_secrets the command refuses it in one line, exit 2."""
    env = {"S05_SECRET": CANARIES["env"]}
    secret_config.chmod(0o644)
    warned = poller("--log-format", "json", "config", "show", cwd=secret_config.parent, env=env)
    assert warned.returncode == 0
    warnings = [json.loads(line) for line in warned.stderr.splitlines() if "secrets_readable" in line]
    assert len(warnings) == 1 and "./poller.yaml: mode 0644" in warnings[0]["text"] and warnings[0]["level"] == "warning"
    doc = yaml.safe_load(secret_config.read_text())
    doc["service"] = {"refuse_readable_secrets": True}
    write_config(secret_config, doc, 0o644)
    refused = poller("--log-format", "console", "snapshot", cwd=secret_config.parent, env=env)
    assert refused.returncode == 2 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("poller: error: ./poller.yaml: mode 0644 lets group or others read it") and "refuse_readable_secrets" in line
    secret_config.chmod(0o600)
    (secret_config.parent / "webhook.secret").chmod(0o604)
    refused = poller("check-config", cwd=secret_config.parent, env=env)
    assert refused.returncode == 2 and "webhook.secret: mode 0604" in refused.stderr
    assert_no_canary(warned.stdout, warned.stderr, refused.stdout, refused.stderr)


@pytest.fixture
def clouds() -> Iterator[tuple[Any, Any]]:
    """The OpenStack (Keystone) and CloudStack emulators, seeded."""
    from collectors.cloudstack.emulator import CloudStackEmulator
    from collectors.openstack.emulator import OpenStackEmulator

    with OpenStackEmulator() as os_emu, CloudStackEmulator() as cs_emu:
        os_emu.seed_demo()
        cs_emu.seed_demo()
        yield os_emu, cs_emu


@pytest.mark.slow
def test_S05_secret_files_authenticate_against_the_emulators(clouds: tuple[Any, Any], tmp_path: Path) -> None:
    """S05: an OpenStack source with auth.password_file logs in to the Keystone emulator and a CloudStack source
    with secret_key_file signs requests the CloudStack emulator accepts; a missing file is one line, exit 2."""
    os_emu, cs_emu = clouds
    auth = dict(os_emu.source_options()["auth"])
    (tmp_path / "os.pw").write_text(auth.pop("password") + "\n")
    cs_options = cs_emu.source_options()
    (tmp_path / "cs.secret").write_text(cs_options.pop("secret_key") + "\n")
    for name in ("os.pw", "cs.secret"):
        (tmp_path / name).chmod(0o400)
    doc = {"baseline": {"url": f"sqlite:///{tmp_path}/b.db"},
           "sources": [{"name": "os", "collector": "openstack", "options": {"auth": {**auth, "password_file": "os.pw"}}},
                       {"name": "cs", "collector": "cloudstack", "options": {**cs_options, "secret_key_file": "cs.secret"}}]}
    write_config(tmp_path / "poller.yaml", doc)
    done = poller("snapshot", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "os: ok" in done.stderr and "cs: ok" in done.stderr, done.stderr
    created = {json.loads(line)["source"] for line in done.stdout.splitlines() if line.strip()}
    assert created == {"os", "cs"}, done.stderr
    (tmp_path / "os.pw").unlink()
    missing = poller("--log-format", "console", "snapshot", "--source", "os", cwd=tmp_path)
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"poller: error: ./poller.yaml: sources.os.options.auth.password_file: cannot read {tmp_path / 'os.pw'} "
        "(No such file or directory)"]
