"""Logging: stdlib and structlog lines alike are JSON in JSON mode; redaction masks values,
never the words of a message (I8, B12)."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from poller.logging import configure, redact_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


class TestRedactionKeepsWords:
    @pytest.mark.parametrize("message", [
        "sources.a.options.secret_key: must be a string",
        "sources.os1.options.auth.password: is required (a non-empty string)",
        "sources.cs.options.api_key: environment variable CS_API_KEY is not set",
        "source 'os1': the cloud refused the token while listing compute.server page 2",
        "notify.sinks.hook.secret: must be a string",
    ])
    def test_error_messages_read_whole(self, message: str) -> None:
        """An error message that names a secret field is not changed by redaction."""
        assert redact_text(message) == message

    @pytest.mark.parametrize(("text", "secret"), [
        ("POST https://cs.example/client/api?apiKey=KEY123&signature=SIG456&command=listZones", "SIG456"),
        ("POST https://cs.example/client/api?apiKey=KEY123&signature=SIG456&command=listZones", "KEY123"),
        ("connecting to postgresql://poller:PgPass99@db/poller", "PgPass99"),
        ("REQ: curl -g -i -X GET http://k/v3 -H \"X-Auth-Token: gAAAAtokenvalue\"", "gAAAAtokenvalue"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ('{"auth": {"identity": {"password": {"user": {"name": "admin", "password": "Hunter2"}}}}}', "Hunter2"),
        ("{'application_credential_secret': 'AppSecret7'}", "AppSecret7"),
        ("retry source=cs1 secret_key=RawSecret1 page=2", "RawSecret1"),
    ])
    def test_secret_values_are_masked(self, text: str, secret: str) -> None:
        """URL parts, query parameters, credential headers and quoted members lose their values."""
        redacted = redact_text(text)
        assert secret not in redacted and "***" in redacted


class TestEveryLineIsJson:
    def test_stdlib_and_structlog_lines_are_json(self, restore_logging: None) -> None:
        """keystoneauth-, urllib3- and project-stdlib records come out as JSON lines naming their logger."""
        stream = io.StringIO()
        configure("json", stream=stream)
        structlog.get_logger("poller.run").error("run_finished", status="failed", password="Hunter2")
        logging.getLogger("keystoneauth.session").warning("Failure: Unable to establish connection to http://k/v3")
        logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) after connection broken")
        logging.getLogger("collectors.cloudstack.client").warning(
            "cloudstack_retry", extra={"source": "cs1", "attempt": 1})
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["event"][:15] for line in lines] == [
            "run_finished", "Failure: Unable", "Retrying (Retry", "cloudstack_retr"]
        assert lines[0]["password"] == "***" and lines[0]["level"] == "error"
        assert lines[1]["logger"] == "keystoneauth.session"
        assert (lines[3]["source"], lines[3]["attempt"]) == ("cs1", 1)

    def test_console_mode_renders_text(self, restore_logging: None) -> None:
        """On a console the same stdlib record is a rendered line, not JSON."""
        stream = io.StringIO()
        configure("console", stream=stream)
        logging.getLogger("kombu").warning("broker unreachable")
        assert "broker unreachable" in stream.getvalue()
        with pytest.raises(json.JSONDecodeError):
            json.loads(stream.getvalue().splitlines()[0])


def test_config_error_names_the_field_whole(tmp_path: Path) -> None:
    """I9: a wrong-typed secret option is reported with its whole message, as a JSON line in JSON mode."""
    config = tmp_path / "poller.yaml"
    config.write_text("sources:\n  - name: a\n    collector: cloudstack\n"
                      "    options: {endpoint: 'http://127.0.0.1:1/client/api', api_key: k, secret_key: 5}\n")
    installed = shutil.which("poller")
    exe = [installed] if installed else [sys.executable, str(ROOT / "cli.py")]
    done = subprocess.run([*exe, "--config", str(config), "--log-format", "json", "snapshot"], cwd=tmp_path,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert done.returncode == 2  # a configuration error, reported before any source runs
    assert any("sources.a.options.secret_key: must be a string" in line.get("text", "") for line in lines), lines
