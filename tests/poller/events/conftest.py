"""Fixtures for the push-event tests: emulated clouds on 127.0.0.1, a baseline taken by a first
snapshot, an EventService on a free port, and helpers to post events and read the jsonl sink."""

from __future__ import annotations

import http.client
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from baseline.store import Store
from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.openstack.emulator import OpenStackEmulator
from poller.config import Config, parse_config
from poller.events.service import EventService
from poller.notify.dispatch import Dispatcher
from poller.run.snapshot import build_dispatcher, open_config_store, snapshot
from tests.conftest import IN_CI

TOKEN = "evt-token-" + uuid.uuid4().hex  # canary: must never show up in any output
HMAC_SECRET = "evt-hmac-" + uuid.uuid4().hex
OS_TYPES = ["compute.server", "network.port", "image.image", "block_storage.volume"]
CS_TYPES = ["cloudstack.virtualmachine", "cloudstack.volume"]


def amqp_url() -> str:
    """The broker the AMQP tests use: $POLLER_TEST_AMQP_URL, else a local RabbitMQ."""
    return os.environ.get("POLLER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="session")
def amqp_broker() -> str:
    """A reachable RabbitMQ URL (skip when there is none; fail in CI)."""
    import kombu

    url = amqp_url()
    try:
        with kombu.Connection(url, connect_timeout=3) as conn:
            conn.connect()
    except Exception as exc:  # any reason the broker is unusable
        if IN_CI:
            pytest.fail(f"RabbitMQ unreachable in CI ({type(exc).__name__})")
        pytest.skip(f"no RabbitMQ at {url.rsplit('@', 1)[-1]} ({type(exc).__name__})")
    return url


@dataclass
class Reply:
    """An HTTP answer: status, headers (lower-case names) and the parsed JSON body."""

    status: int
    headers: dict[str, str]
    body: Any


def post(url: str, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
    """POST ``body`` to ``url + path`` and return the answer."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        parsed = orjson.loads(data) if data else None
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    finally:
        conn.close()


def oslo_v2(event_type: str, payload: Mapping[str, Any], publisher: str = "compute.host1") -> dict[str, Any]:
    """An oslo.messaging v2 envelope around a v1 notification, as the rabbit driver sends it."""
    message = {"message_id": str(uuid.uuid4()), "publisher_id": publisher, "event_type": event_type,
               "priority": "INFO", "payload": dict(payload), "timestamp": "2026-01-01 12:00:00.000000"}
    return {"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()}


@dataclass
class Env:
    """One running setup: config, store, emulators, the service and its sink file."""

    config: Config
    store: Store
    service: EventService
    dispatcher: Dispatcher
    sink: Path
    os: OpenStackEmulator | None = None
    cs: CloudStackEmulator | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.service.url is not None
        return self.service.url

    def post(self, source: str, body: bytes | Mapping[str, Any] | list[Any], **headers: str) -> Reply:
        """POST events for ``source`` (a mapping or list is JSON-encoded)."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return post(self.url, f"/v1/sources/{source}/events", data, headers)

    def post_os(self, body: Mapping[str, Any] | list[Any] | bytes) -> Reply:
        """POST to os1 with its bearer token."""
        return self.post("os1", body, Authorization=f"Bearer {TOKEN}")

    def notes(self) -> list[dict[str, Any]]:
        """The notifications the jsonl sink has written so far."""
        if not self.sink.exists():
            return []
        return [orjson.loads(line) for line in self.sink.read_bytes().splitlines() if line.strip()]

    def wait_notes(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the sink holds at least ``count`` notifications (returns what it has at the end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            notes = self.notes()
            if len(notes) >= count:
                return notes
            time.sleep(0.02)
        return self.notes()


@pytest.fixture
def os_emulator() -> Iterator[OpenStackEmulator]:
    """A running OpenStack emulator with the demo cloud."""
    with OpenStackEmulator() as emu:
        emu.seed_demo()
        yield emu


@pytest.fixture
def cs_emulator() -> Iterator[CloudStackEmulator]:
    """A running CloudStack emulator with the demo cloud."""
    with CloudStackEmulator() as emu:
        emu.seed_demo()
        yield emu


def make_config(tmp_path: Path, sources: list[dict[str, Any]], events: dict[str, Any]) -> Config:
    """A validated config: SQLite baseline and a jsonl sink under ``tmp_path``."""
    doc = {
        "baseline": {"url": f"sqlite:///{tmp_path / 'baseline.db'}"},
        "notify": {"sinks": [{"name": "out", "type": "jsonl", "path": str(tmp_path / "out.jsonl")}]},
        "sources": sources,
        "events": events,
    }
    path = tmp_path / "poller.yaml"
    text = yaml.safe_dump(doc)
    path.write_text(text)
    return parse_config(text, str(path), {})


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Build and start an Env; every one is stopped at the end of the test."""
    made: list[Env] = []

    def make(*, os: OpenStackEmulator | None = None, cs: CloudStackEmulator | None = None, noop: bool = False,
             events: dict[str, Any] | None = None, baseline: bool = True, start: bool = True) -> Env:
        sources: list[dict[str, Any]] = []
        auth: dict[str, Any] = {}
        if os is not None:
            sources.append({"name": "os1", "collector": "openstack", "options": os.source_options(),
                            "entity_types": OS_TYPES})
            auth["os1"] = {"token": TOKEN}
        if cs is not None:
            sources.append({"name": "cs1", "collector": "cloudstack", "entity_types": CS_TYPES,
                            "options": cs.source_options(retry_backoff=0.01, timeout=5)})
            auth["cs1"] = {"hmac_secret": HMAC_SECRET}
        if noop:
            sources.append({"name": "quiet", "collector": "noop"})
            auth["quiet"] = {"token": TOKEN}
        settings = {"http": {"port": 0}, "debounce": "2s", "sources": auth, **(events or {})}
        config = make_config(tmp_path, sources, settings)
        store = open_config_store(config)
        if baseline and sources:
            outcome = snapshot(config, store)
            assert not outcome.failed, [r.error for r in outcome.results]
        sink = tmp_path / "out.jsonl"
        if sink.exists():
            sink.unlink()  # the first load's creations are not what the tests look at
        dispatcher = build_dispatcher(config, store, include_stdout=False)
        env = Env(config, store, EventService(config, store, dispatcher), dispatcher, sink, os=os, cs=cs)
        if start:
            env.service.start()
        made.append(env)
        return env

    yield make
    for env in made:
        env.service.stop(5)
        env.dispatcher.close()
        env.store.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """openstacksdk warns about its own internals (InfluxDB, service_type); nothing a user can act on."""
    for item in items:
        if "poller/events" in str(item.path) or "e2e/test_events" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore::Warning:openstack"))
