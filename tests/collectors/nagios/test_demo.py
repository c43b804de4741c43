"""poller.demo_nagios: the demo's Nagios source is added with a real lab, or skipped with one line."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest

from collectors.nagios.lab import NagiosLab
from poller import demo_nagios
from tests.collectors.nagios.conftest import require_nagios


@pytest.mark.slow
def test_demo_adds_a_nagios_source_whose_changes_show_in_nagios() -> None:
    """With Nagios installed the demo gets a demo-nagios source (password by ${ENV}) and its changes happen."""
    require_nagios()
    found: dict[str, Any] = {}
    lines: list[str] = []
    with ExitStack() as stack:
        demo_nagios.add_nagios_source(stack, found, lines.append)
        spec, changer = found["demo-nagios"]
        assert spec["collector"] == "nagios" and spec["options"]["password"] == "${POLLER_DEMO_NAGIOS_PASSWORD}"
        assert changer.apply_demo_changes() == ["service db-1/postgres went CRITICAL", "host web-1 went DOWN"]
        assert changer.lab.current_state("db-1", "postgres") == 2 and changer.lab.current_state("web-1") == 1
    assert lines == []


def test_demo_without_nagios_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without nagios4/apache2 the source is skipped with one line naming what is missing."""
    monkeypatch.setattr(NagiosLab, "missing", staticmethod(lambda: "/usr/sbin/nagios4 is not installed"))
    found: dict[str, Any] = {}
    lines: list[str] = []
    with ExitStack() as stack:
        demo_nagios.add_nagios_source(stack, found, lines.append)
    assert found == {} and len(lines) == 1 and "Nagios source is skipped" in lines[0]
