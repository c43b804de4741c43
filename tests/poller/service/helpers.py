"""Helpers for service tests: config files over static inventories, waiting for conditions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def write_inventory(path: Path, entities: Sequence[dict[str, Any]]) -> None:
    """Replace a JSON Lines inventory atomically (a listing never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in entities))
    os.replace(tmp, path)


def vms(count: int, flavor: str = "small", start: int = 0) -> list[dict[str, Any]]:
    """``count`` static vm records with keys vm-<n>."""
    return [{"type": "vm", "key": f"vm-{n}", "name": f"vm{n}", "attributes": {"flavor": flavor}} for n in range(start, start + count)]


def write_config(path: Path, *, db: str, sink: Path | None, sources: Sequence[dict[str, Any]], service: dict[str, Any] | None = None,
                 extra_sinks: Sequence[dict[str, Any]] = (), baseline: dict[str, Any] | None = None) -> Path:
    """A poller.yaml (JSON is YAML) with a jsonl sink, the given sources and service settings."""
    sinks = ([{"name": "file", "type": "jsonl", "path": str(sink)}] if sink is not None else []) + list(extra_sinks)
    doc = {"baseline": {"url": db, **(baseline or {})}, "notify": {"sinks": sinks}, "sources": list(sources),
           "service": {"stop_timeout": 10, **(service or {})}}
    path.write_text(json.dumps(doc))
    return path


def static_source(name: str, inventory: Path, types: Sequence[str] | None = None, **settings: Any) -> dict[str, Any]:
    """A static source over a file, every second unless told otherwise.

    With ``types`` declared, a run opens the inventory once (for the listing) instead of
    twice (type discovery, then the listing).
    """
    options: dict[str, Any] = {"path": str(inventory)}
    if types is not None:
        options["types"] = list(types)
    return {"name": name, "collector": "static", "interval": 1, "options": options, **settings}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every notification a jsonl sink wrote (none when the file does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
