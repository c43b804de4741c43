"""The event processor maps Nagios events through the nagios collector (no fetch: workers are not started)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baseline.store import Store, open_store
from poller.config import Config, SourceConfig
from poller.events.config import events_config
from poller.events.processor import EventProcessor


@pytest.fixture
def processor(tmp_path: Path) -> Iterator[EventProcessor]:
    """An EventProcessor for one nagios source (its collector built from the options, no network I/O)."""
    source = SourceConfig("mon", "nagios", options={"url": "http://127.0.0.1:9/cgi-bin/nagios4",
                                                     "username": "u", "password": "p"})
    cfg = Config(path="t.yaml", sources=(source,), events={"sources": {"mon": {"auth": "none"}}})
    store: Store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        yield EventProcessor(cfg, events_config(cfg), store, None)
    finally:
        store.close()


def test_nagios_events_become_host_and_service_targets(processor: EventProcessor) -> None:
    """A service event and a host event are two targets; duplicates coalesce; one naming nothing is unknown."""
    accepted = processor.submit("mon", [
        {"object_type": "service", "host_name": "db1", "service_description": "disk /var", "state": "CRITICAL"},
        {"object_type": "host", "host_name": "gw", "state": "DOWN"},
        {"object_type": "host", "host_name": "gw", "state": "DOWN"},
        {"state": "OK"},
    ])
    assert (accepted.events, accepted.targets, accepted.unknown) == (4, 2, 1)
    assert processor.backlog == 2
