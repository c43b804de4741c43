"""Hostile text in log lines: CR/LF, ANSI escapes and bidi overrides cannot forge or disguise a line (S09, B07)."""

from __future__ import annotations

import io
import json
import logging

import structlog

from poller.logging import configure, escape_controls
from tests.poller.test_logging import restore_logging  # noqa: F401 - the fixture

HOSTILE = "vm-1\r\n2026-01-01T00:00:00Z [error    ] run_failed source=prod\x1b[2K\u202egnp.exe"


class TestLogInjection:
    def test_S09_console_line_stays_one_line_with_visible_escapes(self, restore_logging: None) -> None:  # noqa: F811
        """S09: on a console an entity name with CRLF, ESC and RLO is one line with those written as escapes."""
        stream = io.StringIO()
        configure("console", stream=stream)
        structlog.get_logger("poller.run").warning("duplicate_key", key=HOSTILE)
        logging.getLogger("keystoneauth.session").warning(HOSTILE)  # a library's message text, printed as is
        lines = stream.getvalue().splitlines()
        assert len(lines) == 2
        assert all("\\r\\n" in line for line in lines) and "\\x1b" in lines[0] and "\\u202e" in lines[0]
        assert not any("\x1b[2K" in line or "\u202e" in line for line in lines)

    def test_S09_json_line_keeps_crlf_as_json_and_escapes_bidi(self, restore_logging: None) -> None:  # noqa: F811
        """S09: in JSON mode the line parses back; CR/LF survive as JSON escapes, the bidi override is written out."""
        stream = io.StringIO()
        configure("json", stream=stream)
        structlog.get_logger("poller.run").warning("duplicate_key", key=HOSTILE)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1
        key = json.loads(lines[0])["key"]
        assert key.startswith("vm-1\r\n") and "\u202e" not in key and "\\u202e" in key

    def test_B07_escapes_are_deterministic(self) -> None:
        """B07: zero-width and bidi marks are written as escapes; ordinary Unicode (é, emoji) is kept."""
        assert escape_controls("caf\u00e9 \U0001f680 \u200f") == "caf\u00e9 \U0001f680 \\u200f"
