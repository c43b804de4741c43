"""``poller demo``: the embedded default, end to end on loopback.

Starts the bundled cloud emulators on 127.0.0.1 (OpenStack, CloudStack), a static
inventory and libvirt's test driver when libvirt-python is installed, takes a first
snapshot into a SQLite baseline, changes the clouds, takes a second one, and prints
the notifications and a diff report. Never reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import structlog
import yaml

from poller import render
from poller.config import load_config
from poller.run.snapshot import open_config_store, snapshot

log = structlog.get_logger("poller.demo")

_STATIC_V1 = [
    {"type": "rack", "key": "r1", "name": "rack-1", "attributes": {"room": "A", "units": 42}},
    {"type": "server", "key": "s1", "name": "web-1", "state": "up", "parent": {"type": "rack", "key": "r1"},
     "attributes": {"cpu": 16, "ram_gb": 64, "tags": ["web", "prod"], "metrics": {"load": 0.4}}},
    {"type": "server", "key": "s2", "name": "db-1", "state": "up", "parent": {"type": "rack", "key": "r1"},
     "attributes": {"cpu": 32, "ram_gb": 256, "tags": ["db"], "metrics": {"load": 1.2}}},
    {"type": "server", "key": "s3", "name": "batch-1", "state": "up", "parent": {"type": "rack", "key": "r1"},
     "attributes": {"cpu": 8, "ram_gb": 32, "tags": ["batch"], "metrics": {"load": 3.0}}},
]


def _static_v2() -> list[dict[str, Any]]:
    """The demo inventory after a day of changes: a resize, a retirement, a new server, a new load."""
    items = [dict(e, attributes=dict(e.get("attributes", {}))) for e in _STATIC_V1 if e["key"] != "s3"]
    items[1]["attributes"]["ram_gb"] = 128  # web-1 resized
    items[1]["attributes"]["metrics"] = {"load": 2.7}  # ignored: volatile by configuration
    items[2]["state"] = "maintenance"
    items.append({"type": "server", "key": "s4", "name": "web-2", "state": "up", "parent": {"type": "rack", "key": "r1"},
                  "attributes": {"cpu": 16, "ram_gb": 64, "tags": ["prod", "web"], "metrics": {"load": 0.1}}})
    return items


def _write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))


@contextmanager
def _emulators(stack: ExitStack, workdir: Path, echo: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Start whatever emulators are installed; yields source name -> (source config, emulator)."""
    found: dict[str, Any] = {}
    try:
        from collectors.openstack.emulator import OpenStackEmulator

        emu = stack.enter_context(OpenStackEmulator())
        emu.seed_demo()
        found["demo-openstack"] = ({"collector": "openstack", "options": emu.source_options()}, emu)
    except ImportError:
        echo("(OpenStack emulator not installed: skipped)")
    try:
        from collectors.cloudstack.emulator import CloudStackEmulator

        cs = stack.enter_context(CloudStackEmulator())
        cs.seed_demo()
        found["demo-cloudstack"] = ({"collector": "cloudstack", "options": cs.source_options()}, cs)
    except ImportError:
        echo("(CloudStack emulator not installed: skipped)")
    try:
        import libvirt  # noqa: F401

        from collectors.libvirt import demo as libvirt_demo

        node = libvirt_demo.seed_demo(workdir)
        found["demo-libvirt"] = ({"collector": "libvirt", "options": libvirt_demo.demo_source_options(node)},
                                 _LibvirtNode(node, libvirt_demo.apply_demo_changes))
    except ImportError:
        echo("(libvirt-python not installed: the libvirt test-driver source is skipped)")
    from poller.demo_nagios import add_nagios_source

    add_nagios_source(stack, found, echo)
    yield found


class _LibvirtNode:
    """The demo's libvirt test-driver node file, changed like the emulators are."""

    def __init__(self, node: Path, apply: Callable[[Path], list[str]]) -> None:
        self.node, self.apply = node, apply

    def apply_demo_changes(self) -> list[str]:
        return self.apply(self.node)


def _config(workdir: Path, emulated: dict[str, Any]) -> Path:
    """Write the demo's poller.yaml; secrets go through ${ENV} as a real deployment would."""
    sources: list[dict[str, Any]] = [{
        "name": "demo-static", "collector": "static", "options": {"path": str(workdir / "inventory.jsonl")},
        "ignore_fields": {"server": ["/metrics"]},
    }]
    for name, (spec, _emu) in emulated.items():
        options = dict(spec["options"])
        for secret in ("api_key", "secret_key"):
            if secret in options:
                env = f"POLLER_DEMO_{name.upper().replace('-', '_')}_{secret.upper()}"
                os.environ[env] = str(options[secret])
                options[secret] = "${" + env + "}"
        if "auth" in options and "password" in options["auth"]:
            os.environ["POLLER_DEMO_OS_PASSWORD"] = options["auth"]["password"]
            options["auth"] = {**options["auth"], "password": "${POLLER_DEMO_OS_PASSWORD}"}
        sources.append({"name": name, "collector": spec["collector"], "options": options})
    document = {
        "baseline": {"url": f"sqlite:///{workdir / 'baseline.db'}"},
        "notify": {"sinks": [{"name": "changes", "type": "jsonl", "path": str(workdir / "changes.jsonl")}]},
        "sources": sources,
    }
    path = workdir / "poller.yaml"
    path.write_text("# Written by `poller demo`; the emulator ports are only valid while the demo runs.\n"
                    + yaml.safe_dump(document, sort_keys=False))
    return path


def run_demo(workdir: str | None, echo: Callable[[str], None]) -> int:
    """Run the demo; returns the exit code (0 when every source ran completely)."""
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="poller-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    for stale in ("baseline.db", "baseline.db-wal", "baseline.db-shm", "changes.jsonl"):
        (base / stale).unlink(missing_ok=True)
    _write_jsonl(base / "inventory.jsonl", _STATIC_V1)
    status = 0
    with ExitStack() as stack, _emulators(stack, base, echo) as emulated:
        config = load_config(str(_config(base, emulated)))
        store = open_config_store(config)
        echo(f"cloud-poller demo in {base} (emulated clouds on 127.0.0.1)\n")
        echo("== snapshot 1: first load (every entity is a create flagged initial)")
        first = snapshot(config, store, on_result=lambda r: echo(_line(r)))
        status |= int(first.failed)
        echo("\n== the clouds change: servers booted, resized, renamed and deleted; VMs deployed and destroyed")
        _write_jsonl(base / "inventory.jsonl", _static_v2())
        for name, (_spec, emu) in emulated.items():
            if emu is not None:
                changes = emu.apply_demo_changes()
                echo(f"   {name}: {', '.join(changes) if isinstance(changes, list | tuple) else changes}")
        echo("\n== snapshot 2: only what changed")
        notes: list[dict[str, Any]] = []
        second = snapshot(config, store, emit=lambda b: notes.append(orjson.loads(b)), on_result=lambda r: echo(_line(r)))
        status |= int(second.failed)
        echo("\n== what changed, field by field (the diff report of snapshot 2)")
        echo(render.diff_report(notes, "table", "Changes found by the second snapshot") if notes else "no changes")
        echo(f"\nNotifications were also appended to {base / 'changes.jsonl'} (a durable jsonl sink).")
        store.close()
    echo("\n== try next (these work after the demo has ended: only polling needs the emulated clouds)")
    for command in suggested_commands(base):
        echo(f"   {command}")
    return 1 if status else 0


def suggested_commands(base: Path) -> list[str]:
    """The commands the demo suggests, quoted so that each works pasted into a shell as printed."""
    config = ["poller", "--config", str(base / "poller.yaml")]
    commands = [
        [*config, "diff", "--since", "1h"],
        [*config, "diff", "--since", "1h", "--format", "html", "-o", str(base / "report.html")],
        [*config, "history", "server/s2", "--source", "demo-static"],
        [*config, "show", "server/s1", "--source", "demo-static"],
        [*config, "sources"],
        [*config, "baseline", "show", "--format", "json"],
    ]
    return [shlex.join(c) for c in commands]


def _line(result: Any) -> str:
    text = (f"   {result.source}: {result.status}, {result.count('listed')} listed, {result.count('created')} created, "
            f"{result.count('updated')} updated, {result.count('deleted')} deleted")
    return text + (f" -- {result.error}" if result.error else "")
