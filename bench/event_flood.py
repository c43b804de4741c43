"""L07: a flood of signed pushed events against the real ``poller run`` service.

Starts a CloudStack emulator (its own process) holding ``--entities`` VMs, writes a poller.yaml
whose source takes CloudStack webhooks (``hmac_secret``: every request carries
``X-CS-Signature`` and a fresh ``X-CS-Event-ID``), runs the installed ``poller run`` with the
HTTP intake, and POSTs one signed event per request (a VM state change naming one of the
VMs, uniformly at random) at ``--rate`` requests per second for ``--duration`` seconds from
``--senders`` threads on kept-alive connections. No snapshot is taken first, so every fetch of
a VM the first time is a ``create`` in the jsonl sink: what was refreshed is readable there.

Prints: requests sent, accepted (200), rejected (503 queue full, 429), other answers; the
rate achieved; p50/p99/max endpoint latency (request written to answer read, on the
sender's side); the queue depth peak (``/healthz`` backlog, sampled every 50 ms); entities
fetched per debounce window (``/v1/stats`` sampled every window) against the distinct VMs
that had an accepted event in that window or the previous one; the bound the debounce
guarantees over the whole run (per VM at most 1 + ceil(span / debounce) fetches, span from
its first to its last accepted event); whether every VM with an accepted event was
refreshed; the service's peak RSS (VmHWM).

    python bench/event_flood.py                      # 1,000/s for 60 s (the defaults)
    python bench/event_flood.py --duration 10 --queue-size 50
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET_ENV = "POLLER_FLOOD_HMAC"


@dataclass
class FloodResult:
    """What one flood measured; ``lines()`` is the printed report."""

    duration: float
    rate: float
    entities: int
    queue_size: int
    debounce: float
    sent: int = 0
    answers: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    backlog_peak: int = 0
    windows: list[tuple[int, int, int]] = field(default_factory=list)  # (fetched, refreshes, distinct accepted)
    fetched: int = 0
    fetch_bound: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    accepted_keys: set[str] = field(default_factory=set)
    refreshed_keys: set[str] = field(default_factory=set)
    sent_keys: set[str] = field(default_factory=set)
    peak_rss: int = 0
    exit_code: int | None = None
    stderr_tail: str = ""

    @property
    def accepted(self) -> int:
        """Requests answered 200 (CloudStack webhooks: accepted or a duplicate)."""
        return self.answers[200]

    @property
    def rejected(self) -> int:
        """Requests refused because the queue was full (503) or rate limited (429)."""
        return self.answers[503] + self.answers[429]

    def percentile(self, q: float) -> float:
        """Endpoint latency at quantile ``q`` (seconds), nearest rank."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan

    def window_violations(self) -> int:
        """Windows fetching more entities than had an accepted event in that window or the previous one."""
        return sum(1 for i, (fetched, _r, _d) in enumerate(self.windows)
                   if fetched > self.windows[i][2] + (self.windows[i - 1][2] if i else 0))

    def lines(self) -> list[str]:
        """The printed figures."""
        others = {k: v for k, v in sorted(self.answers.items()) if k not in (200, 503, 429)}
        busiest = max(self.windows, key=lambda w: w[0], default=(0, 0, 0))
        return [
            f"flood: {self.rate:.0f} requests/s for {self.duration:.0f} s, {self.entities} VMs, debounce "
            f"{self.debounce:g} s, queue_size {self.queue_size}",
            f"sent {self.sent} in {self.elapsed:.1f} s ({self.sent / max(self.elapsed, 1e-9):.0f}/s): accepted {self.accepted}, "
            f"rejected {self.rejected} (503 {self.answers[503]}, 429 {self.answers[429]}), other {others or 0}",
            f"endpoint latency p50 {self.percentile(0.5) * 1000:.1f} ms, p99 {self.percentile(0.99) * 1000:.1f} ms, "
            f"max {max(self.latencies, default=math.nan) * 1000:.1f} ms",
            f"queue depth peak {self.backlog_peak} (bound {self.queue_size})",
            f"fetches per {self.debounce:g} s window: max {busiest[0]} (that window: {busiest[2]} distinct VMs accepted); "
            f"windows over the distinct VMs of that and the previous window: {self.window_violations()} of {len(self.windows)}",
            f"fetched {self.fetched} entities in {self.stats.get('refreshes', 0)} refreshes; debounce bound "
            f"{self.fetch_bound} (sum over VMs of 1 + ceil(span/debounce)); coalesced {self.stats.get('coalesced', 0)}, "
            f"busy {self.stats.get('busy', 0)}, failed {self.stats.get('failed', 0)}",
            f"VMs with an accepted event {len(self.accepted_keys)}, refreshed {len(self.refreshed_keys)}, "
            f"never refreshed {len(self.accepted_keys - self.refreshed_keys)}",
            f"service peak RSS {self.peak_rss / 2**20:.0f} MiB, exit code {self.exit_code}",
        ]


def _emulator(conn: Connection, vms: int) -> None:
    """Child process: a CloudStack emulator with ``vms`` VMs until the parent says stop."""
    from collectors.cloudstack.emulator import CloudStackEmulator, server

    # The emulator writes headers and body separately: with Nagle on, every kept-alive fetch
    # would wait ~40 ms for the poller's delayed ACK, an artefact a real management server lacks.
    server._Handler.disable_nagle_algorithm = True
    emu = CloudStackEmulator().start()
    emu.seed_scale(vms)
    conn.send((emu.source_options(), emu.inventory.ids("virtualmachine")))
    conn.recv()
    emu.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poller() -> list[str]:
    installed = shutil.which("poller")
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def _get(port: int, path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"poller run exited with {proc.returncode} before listening")
        try:
            _get(port, "/healthz")
            return
        except (OSError, ValueError, http.client.HTTPException):
            time.sleep(0.1)
    raise RuntimeError("poller run did not start listening")


def _source_stats(port: int) -> dict[str, int]:
    return dict(_get(port, "/v1/stats")["sources"].get("cs", {}))


def _peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def flood(workdir: Path, *, duration: float = 60.0, rate: float = 1000.0, entities: int = 500,
          queue_size: int = 250, debounce: float = 2.0, senders: int = 8, workers: int = 2,
          seed: int = 7) -> FloodResult:
    """Run one flood in ``workdir`` (config, baseline, sink, logs go there) and return what it measured."""
    result = FloodResult(duration, rate, entities, queue_size, debounce)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    emulator = ctx.Process(target=_emulator, args=(child, entities), daemon=True)
    emulator.start()
    try:
        options, vm_ids = parent.recv()
        secret = uuid.uuid4().hex
        port = _free_port()
        sink = workdir / "out.jsonl"
        doc = {
            "baseline": {"url": f"sqlite:///{workdir / 'b.db'}"},
            "notify": {"sinks": [{"name": "file", "type": "jsonl", "path": str(sink)}]},
            "service": {"workers": 2},
            "sources": [{"name": "cs", "collector": "cloudstack", "options": options, "interval": "1h",
                         "run_at_start": False, "entity_types": ["cloudstack.virtualmachine"]}],
            "events": {"http": {"port": port}, "debounce": debounce, "queue_size": queue_size, "workers": workers,
                       "sources": {"cs": {"hmac_secret": "${" + SECRET_ENV + "}"}}},
        }
        config = workdir / "poller.yaml"
        config.write_text(yaml.safe_dump(doc))
        config.chmod(0o600)
        env = {**{k: v for k, v in os.environ.items() if k != "POLLER_CONFIG"}, SECRET_ENV: secret}
        with open(workdir / "service.log", "wb") as log:
            proc = subprocess.Popen([*_poller(), "--log-format", "json", "--config", str(config), "run"],
                                    env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_ready(port, proc)
            _run_flood(result, port, secret.encode(), vm_ids, senders, random.Random(seed))
            result.stats = _source_stats(port)
            result.fetched = result.stats.get("fetched", 0)
            result.peak_rss = _peak_rss(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                result.exit_code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                result.exit_code = proc.wait()
        result.stderr_tail = "\n".join((workdir / "service.log").read_text(errors="replace").splitlines()[-20:])
        if sink.exists():
            result.refreshed_keys = {json.loads(line)["key"] for line in sink.read_text().splitlines() if line.strip()}
    finally:
        parent.send("stop")
        emulator.join(10)
    return result


def _run_flood(result: FloodResult, port: int, secret: bytes, vm_ids: list[str], senders: int,
               rng: random.Random) -> None:
    total = int(result.duration * result.rate)
    plan = [rng.choice(vm_ids) for _ in range(total)]
    bodies = [json.dumps({"resource": "VirtualMachine", "id": vm, "old-state": "Running",
                          "new-state": "Stopped"}).encode() for vm in plan]
    lock = threading.Lock()
    counter = iter(range(total))
    records: list[tuple[float, float, int, str]] = []  # (sent at, latency, status, vm)
    done = threading.Event()
    start = time.monotonic() + 0.2

    def sampler() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError, ValueError, KeyError, http.client.HTTPException):
                result.backlog_peak = max(result.backlog_peak, int(_get(port, "/healthz")["backlog"]))
            done.wait(0.05)

    window_stats: list[tuple[float, dict[str, int]]] = []

    def windows() -> None:
        at = start
        while not done.is_set():
            window_stats.append((time.monotonic(), _source_stats(port)))
            at += result.debounce
            done.wait(max(0.0, at - time.monotonic()))
        window_stats.append((time.monotonic(), _source_stats(port)))

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, float, int, str]] = []
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            delay = start + index / result.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = bodies[index]
            headers = {"Content-Type": "application/json", "X-CS-Event-ID": uuid.uuid4().hex,
                       "X-CS-Signature": base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()}
            began = time.monotonic()
            try:
                conn.request("POST", "/v1/sources/cs/events", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((began, time.monotonic() - began, status, plan[index]))
        conn.close()
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
    helpers = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=windows, daemon=True)]
    for thread in helpers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed = time.monotonic() - start
    _wait_idle(port, timeout=max(60.0, result.duration))  # the windows go on until the last fetch
    done.set()
    for thread in helpers:
        thread.join()
    result.sent = len(records)
    result.answers = Counter(status for _t, _l, status, _vm in records)
    result.latencies = [latency for _t, latency, _s, _vm in records]
    result.sent_keys = {vm for *_rest, vm in records}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    accepted_at: list[tuple[float, str]] = []
    for began, latency, status, vm in records:
        if status == 200:
            first[vm] = min(first.get(vm, began), began)
            last[vm] = max(last.get(vm, 0.0), began + latency)
            accepted_at.append((began, vm))
    result.accepted_keys = set(first)
    result.fetch_bound = sum(1 + math.ceil((last[vm] - first[vm]) / result.debounce) for vm in first)
    # Per window of the stats samples: fetched, refreshes, and the distinct VMs accepted in it.
    by_window: dict[int, set[str]] = defaultdict(set)
    edges = [at for at, _s in window_stats]
    for began, vm in accepted_at:
        index = sum(1 for edge in edges[1:] if edge <= began)
        by_window[index].add(vm)
    for i in range(1, len(window_stats)):
        before, after = window_stats[i - 1][1], window_stats[i][1]
        result.windows.append((after.get("fetched", 0) - before.get("fetched", 0),
                               after.get("refreshes", 0) - before.get("refreshes", 0), len(by_window[i - 1])))


def _wait_idle(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _get(port, "/healthz")["backlog"] == 0:
                time.sleep(0.5)  # a refresh taken just before may still run
                if _get(port, "/healthz")["backlog"] == 0:
                    return
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        time.sleep(0.2)


def main() -> None:
    """Parse the options, run one flood in a temporary directory and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of flood (default 60)")
    parser.add_argument("--rate", type=float, default=1000.0, help="signed requests per second (default 1000)")
    parser.add_argument("--entities", type=int, default=500, help="VMs the events name (default 500)")
    parser.add_argument("--queue-size", type=int, default=250, help="events.queue_size (default 250)")
    parser.add_argument("--debounce", type=float, default=2.0, help="events.debounce in seconds (default 2)")
    parser.add_argument("--senders", type=int, default=8, help="sending threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="events.workers (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="poller-flood-") as tmp:
        result = flood(Path(tmp), duration=args.duration, rate=args.rate, entities=args.entities,
                       queue_size=args.queue_size, debounce=args.debounce, senders=args.senders, workers=args.workers)
    for line in result.lines():
        print(line)


if __name__ == "__main__":
    main()
