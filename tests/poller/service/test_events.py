"""The push-event intake embedded in the service (``events:`` in the config), against the OpenStack emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from baseline.store import open_store
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator import resources as r
from poller.config import load_config
from poller.service.scheduler import Service
from tests.poller.events.conftest import TOKEN, oslo_v2, post

from .helpers import read_jsonl, wait_for


@pytest.fixture
def emulator() -> Iterator[OpenStackEmulator]:
    """A running OpenStack emulator with the demo cloud."""
    with OpenStackEmulator() as emu:
        emu.seed_demo()
        yield emu


def test_event_refresh_reaches_the_sinks(tmp_path: Path, emulator: OpenStackEmulator) -> None:
    """With `events:` configured, `poller run` serves the intake; an event's refresh is published and delivered."""
    out = tmp_path / "out.jsonl"
    doc = {
        "baseline": {"url": f"sqlite:///{tmp_path}/b.db"},
        "notify": {"sinks": [{"name": "file", "type": "jsonl", "path": str(out)}]},
        "sources": [{"name": "os1", "collector": "openstack", "interval": 3600, "options": emulator.source_options(),
                     "entity_types": ["compute.server"]}],
        "events": {"http": {"port": 0}, "debounce": "0.1s", "sources": {"os1": {"token": TOKEN}}},
    }
    (tmp_path / "poller.yaml").write_text(json.dumps(doc))
    config = load_config(str(tmp_path / "poller.yaml"))
    svc = Service(str(tmp_path / "poller.yaml"), config, open_store(config.baseline.url))
    svc.start()
    try:
        first = wait_for(lambda: read_jsonl(out), what="the first load")
        server = emulator.seeded.servers[1]
        r.resize_server(emulator.cloud, server["id"], emulator.seeded.flavors[2])
        reply = post(svc.events.url, "/v1/sources/os1/events",
                     json.dumps(oslo_v2("compute.instance.update", {"instance_id": server["id"]})).encode(),
                     {"Authorization": f"Bearer {TOKEN}"})
        assert reply.status == 202
        notes = wait_for(lambda: read_jsonl(out)[len(first):], what="the refresh's notification")
        assert [(n["action"], n["key"]) for n in notes] == [("update", server["id"])]
        assert svc.metrics.registry.get_sample_value(
            "poller_changes_total", {"source": "os1", "entity_type": "compute.server", "action": "update"}) == 1
    finally:
        svc.stop()
        svc.store.close()
