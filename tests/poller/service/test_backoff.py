"""Lockout safety: a source whose credentials are rejected backs off exponentially in the
service (1, 2, 4 ... scheduled runs, capped at an hour), is named by /healthz and counted
by poller_source_backoff, and a run past the login resets it (B11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from baseline.store import open_store
from collectors.cloudstack.emulator import CloudStackEmulator
from poller.config import load_config
from poller.service.backoff import Backoff
from poller.service.scheduler import Service

from .helpers import write_config


class TestBackoffRule:
    def test_doubles_per_rejection(self) -> None:
        """The n-th consecutive rejection waits 2^(n-1) scheduled runs."""
        backoff = Backoff()
        assert [backoff.rejected("a", 60) for _ in range(5)] == [1, 2, 4, 8, 16]

    def test_capped_at_an_hour(self) -> None:
        """With a 10-minute interval the backoff stops growing at 6 runs (one hour)."""
        backoff = Backoff()
        assert [backoff.rejected("a", 600) for _ in range(5)] == [1, 2, 4, 6, 6]

    def test_skips_then_attempts(self) -> None:
        """After a backoff of 4 runs, 3 scheduled runs are skipped and the 4th attempts."""
        backoff = Backoff()
        for _ in range(3):
            backoff.rejected("a", 60)
        assert [backoff.take_skip("a") for _ in range(4)] == [True, True, True, False]

    def test_success_resets(self) -> None:
        """A run past the login forgets the backoff."""
        backoff = Backoff()
        backoff.rejected("a", 60)
        backoff.rejected("a", 60)
        assert backoff.succeeded("a") == 2
        assert (backoff.level("a"), backoff.take_skip("a"), backoff.backing_off()) == (0, False, [])


@pytest.fixture
def cloud() -> Iterator[CloudStackEmulator]:
    with CloudStackEmulator() as emu:
        emu.seed_demo()
        yield emu


@pytest.fixture
def service(cloud: CloudStackEmulator, tmp_path: Path) -> Iterator[Service]:
    """A service (not started: the test fires the schedule itself) over a CloudStack source with a wrong secret."""
    options = cloud.source_options(secret_key="wrong-secret", retry_backoff=0.01)
    cfg = write_config(tmp_path / "poller.yaml", db=f"sqlite:///{tmp_path}/b.db", sink=None,
                       sources=[{"name": "cs1", "collector": "cloudstack", "interval": 60, "options": options}])
    config = load_config(str(cfg))
    svc = Service(str(cfg), config, open_store(config.baseline.url))
    yield svc
    svc.store.close()


def gauge(svc: Service) -> float:
    return svc.metrics.registry.get_sample_value("poller_source_backoff", {"source": "cs1"}) or 0.0


class TestService:
    def test_B11_rejected_credentials_back_off_exponentially(self, service: Service, cloud: CloudStackEmulator) -> None:
        """B11: 8 scheduled runs with a wrong secret make 4 login attempts (runs 1, 2, 4, 8), logging each backoff once."""
        with structlog.testing.capture_logs() as logs:
            for _ in range(8):
                service._scheduled("cs1")
        assert len(cloud.requests) == 4
        assert [e["next_attempt_in_runs"] for e in logs if e["event"] == "source_backoff"] == [1, 2, 4, 8]
        skipped = service.metrics.registry.get_sample_value("poller_runs_skipped_total",
                                                            {"source": "cs1", "reason": "backoff"})
        assert (skipped, gauge(service)) == (4, 4)

    def test_healthz_names_the_source_until_a_login_succeeds(self, service: Service, cloud: CloudStackEmulator) -> None:
        """/healthz fails naming the backing-off source; after the secret is fixed the next attempt resets it."""
        service._scheduled("cs1")
        service._scheduled("cs1")
        status, body = service._health_report()
        report = orjson.loads(body)
        assert status == 503 and [b["source"] for b in report["backoff"]] == ["cs1"]
        cloud.secret_key = "wrong-secret"  # the operator fixes the credentials (here: the cloud accepts them)
        service._scheduled("cs1")  # skipped: still backing off
        service._scheduled("cs1")
        status, body = service._health_report()
        assert status == 200 and "backoff" not in orjson.loads(body)
        assert gauge(service) == 0
