"""Real `poller run` cluster nodes for the cluster tests: configs, processes with their own
host names (``unshare -u`` when root), their JSON logs, and reads of the shared database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.poller.service.backends import free_port
from tests.poller.service.helpers import static_source, wait_for

ROOT = Path(__file__).resolve().parents[2]


def poller_command() -> list[str]:
    """The installed console script (the checkout's cli.py when it is not installed)."""
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def can_unshare() -> bool:
    """True when this process may give a child its own host name (root with util-linux unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-u", "hostname", "probe"], capture_output=True, timeout=10)
    return done.returncode == 0


def node_config(path: Path, *, db: str, backend: str, sources: Sequence[dict[str, Any]], sink: Path | None,
                member_id: str | None = None, heartbeat: float = 1.0, membership_timeout: float = 5.0,
                lease_ttl: float | None = None, extra: dict[str, Any] | None = None) -> Path:
    """One node's poller.yaml: the shared sources and database, a jsonl sink named ``file`` writing to
    this node's own file (one sink, one cursor: whoever delivers writes its own file), metrics on a free port."""
    coordination: dict[str, Any] = {"backend_url": backend, "heartbeat": heartbeat, "membership_timeout": membership_timeout}
    if member_id is not None:
        coordination["member_id"] = member_id
    doc = {
        "baseline": {"url": db},
        "notify": {"sinks": [{"name": "file", "type": "jsonl", "path": str(sink)}] if sink is not None else []},
        "sources": list(sources),
        "service": {"stop_timeout": 10, "metrics_port": free_port(), "workers": 4,
                    **({"lease_ttl": lease_ttl} if lease_ttl is not None else {})},
        "coordination": coordination,
        **(extra or {}),
    }
    path.write_text(json.dumps(doc))
    return path


def static_sources(workdir: Path, count: int, interval: float) -> list[dict[str, Any]]:
    """``count`` static sources s00.. over their own inventory files (created with 3 vms each)."""
    out = []
    for i in range(count):
        inv = workdir / f"inv-{i:02d}.jsonl"
        write_revs(inv, 0)
        out.append(static_source(f"s{i:02d}", inv, types=["vm"], interval=interval))
    return out


def write_revs(path: Path, rev: int, count: int = 3) -> None:
    """An inventory whose vms carry ``rev``: a baseline that went backwards shows as a lower rev after a higher one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps({"type": "vm", "key": f"vm-{n}", "name": f"vm{n}", "attributes": {"rev": rev}}) + "\n"
                           for n in range(count)))
    os.replace(tmp, path)


class Node:
    """A running `poller run` with its own host name; its JSON log lines are parsed as they arrive."""

    def __init__(self, name: str, config: Path, own_hostname: bool) -> None:
        self.name = name
        self.config = config
        self.port = json.loads(config.read_text())["service"]["metrics_port"]
        env = {k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}
        command = [*poller_command(), "--config", str(config), "--log-format", "json", "run"]
        if own_hostname:
            command = ["unshare", "-u", "sh", "-c", f'hostname "{name}" && exec "$@"', "sh", *command]
        self.proc = subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "raw", "line": line.rstrip()})

    def matching(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        """The log events named ``event`` whose fields equal ``fields``."""
        return [e for e in list(self.events) if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]

    def assignment(self) -> dict[str, Any] | None:
        """The node's latest ``cluster_assignment`` log event."""
        found = self.matching("cluster_assignment")
        return found[-1] if found else None

    def wait_members(self, count: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the node sees ``count`` members; its assignment then."""
        def seen() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.events[-5:]}")
            last = self.assignment()
            return last if last is not None and last["members"] == count else None

        return wait_for(seen, timeout=timeout, what=f"{self.name} seeing {count} members (last: {self.assignment() or self.events[-6:]})")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET /healthz or /livez: (status, JSON body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the node's process."""
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM (after a SIGCONT, in case it is stopped) and the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """Make sure the process is gone (teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Run:
    """One row of poller_runs, with the host name of the node that ran it (from its holder ``host:pid:uuid``)."""

    id: int
    source: str
    host: str
    started_at: datetime
    finished_at: datetime | None
    status: str


def runs(db: str) -> list[Run]:
    """Every run in the database, oldest first."""
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, source, holder, started_at, finished_at, status FROM poller_runs ORDER BY id"))
            return [Run(i, src, holder.split(":")[0], _utc(start), None if end is None else _utc(end), status)
                    for i, src, holder, start, end, status in rows]
    finally:
        engine.dispose()


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands raw timestamps back as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def between(rows: Sequence[Any], start: datetime, end: datetime) -> list[Any]:
    """Runs that started in [start, end)."""
    return [r for r in rows if start <= r.started_at < end]
