"""The library entry point: a Poller object whose subscribers get every change."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from poller.config import parse_config
from poller.library import Poller


def test_subscribers_get_changes_without_blocking(tmp_path: Path) -> None:
    """Callbacks receive the changes of their types; a slow one does not hold up snapshot()."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text('{"type":"vm","key":"a"}\n{"type":"host","key":"h"}\n')
    config = parse_config(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n",
        "test.yaml", {},
    )
    seen: list[dict[str, Any]] = []
    release = threading.Event()
    with Poller(config) as poller:
        poller.subscribe("vm", lambda note: (release.wait(5), seen.append(note)))
        started = time.monotonic()
        outcome = poller.snapshot()
        assert time.monotonic() - started < 4 and not outcome.failed
        release.set()
        assert poller.wait_idle(5)
    assert [(n["entity_type"], n["key"], n["action"]) for n in seen] == [("vm", "a", "create")]


def test_F25_subscribers_get_the_silent_first_load_marker(tmp_path: Path) -> None:
    """F25: with initial_load: silent a subscriber of vm gets one baseline_initialized marker, then real changes."""
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text('{"type":"vm","key":"a"}\n{"type":"host","key":"h"}\n')
    config = parse_config(
        f"baseline: {{url: 'sqlite:///{tmp_path}/b.db'}}\nnotify: {{initial_load: silent}}\n"
        f"sources: [{{name: inv, collector: static, options: {{path: '{inventory}'}}}}]\n",
        "test.yaml", {},
    )
    seen: list[dict[str, Any]] = []
    with Poller(config) as poller:
        poller.subscribe("vm", seen.append)
        assert not poller.snapshot().failed
        inventory.write_text('{"type":"vm","key":"a"}\n{"type":"vm","key":"b"}\n{"type":"host","key":"h"}\n')
        assert not poller.snapshot().failed
        assert poller.wait_idle(5)
    assert [(n["action"], n["key"]) for n in seen] == [("baseline_initialized", seen[0]["epoch"]), ("create", "b")]
    assert seen[0]["baseline"]["types"] == {"host": 1, "vm": 1}
