"""Freshness: which sources /healthz calls stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from poller.service.health import Freshness

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class TestFreshness:
    """The 3 × period rule."""

    def test_recent_ok_run_is_healthy(self) -> None:
        """A source with a complete run within 3 periods is not stale: 200."""
        f = Freshness(START)
        f.set_sources({"a": 60.0})
        f.record_ok("a", START + timedelta(seconds=100))
        status, body = f.report(START + timedelta(seconds=200))
        assert status == 200 and orjson.loads(body)["stale"] == []

    def test_old_ok_run_is_stale(self) -> None:
        """A source whose last complete run is older than 3 periods is named in a 503 body."""
        f = Freshness(START)
        f.set_sources({"a": 60.0, "b": 60.0})
        f.record_ok("a", START)
        f.record_ok("b", START + timedelta(seconds=150))
        status, body = f.report(START + timedelta(seconds=181))
        doc = orjson.loads(body)
        assert status == 503 and [s["source"] for s in doc["stale"]] == ["a"] and doc["status"] == "stale"

    def test_never_run_measured_from_service_start(self) -> None:
        """A source that never completed a run is healthy until 3 periods after the service started."""
        f = Freshness(START)
        f.set_sources({"a": 10.0})
        assert f.report(START + timedelta(seconds=29))[0] == 200
        stale = f.stale(START + timedelta(seconds=31))
        assert [s.source for s in stale] == ["a"] and stale[0].last_ok is None

    def test_removed_source_is_not_judged(self) -> None:
        """Only the sources of the current set count."""
        f = Freshness(START)
        f.set_sources({"a": 10.0})
        f.set_sources({})
        assert f.report(START + timedelta(days=1))[0] == 200

    def test_older_record_does_not_win(self) -> None:
        """Recording an older completion keeps the newer one."""
        f = Freshness(START)
        f.record_ok("a", START + timedelta(seconds=10))
        f.record_ok("a", START)
        assert f.last_ok("a") == START + timedelta(seconds=10)
