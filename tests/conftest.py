"""Shared fixtures: baseline store URLs for SQLite and PostgreSQL, configs, clocks.

PostgreSQL tests run against the server named by POLLER_TEST_PG_URL (set by .ci/run);
outside CI they skip when it is absent, in CI (CI=true) they fail instead. Outage tests
use ``private_rabbit`` / ``private_pg``: servers of their own, never the shared ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.private_servers import PrivatePostgres, PrivateRabbit, ServerUnavailable

IN_CI = os.environ.get("CI", "").lower() == "true"


def pg_admin_url() -> str | None:
    """The PostgreSQL server URL tests may create databases on, if any."""
    return os.environ.get("POLLER_TEST_PG_URL")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL server (skip or fail when there is none)."""
    url = pg_admin_url()
    if not url:
        if IN_CI:
            pytest.fail("POLLER_TEST_PG_URL is not set in CI")
        pytest.skip("no PostgreSQL server (set POLLER_TEST_PG_URL)")
    return url


def _new_pg_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"poller_t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return name, str(sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def _drop_pg_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty baseline database URL: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'baseline.db'}"
        return
    admin = request.getfixturevalue("pg_server")
    name, url = _new_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, name)


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    """An opened Store on a fresh database (both backends)."""
    from baseline.store import open_store

    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


class Clock:
    """A settable clock for runs: starts at a fixed time, moves when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """A fixed, advanceable clock."""
    return Clock()


def unavailable(reason: str) -> None:
    """Skip outside CI; under CI=true what the test needs must be there, so fail instead."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run provides it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of our own (own name and ports, 127.0.0.1) for outage tests; stopped after the session."""
    try:
        node = PrivateRabbit()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        node.start()  # closes itself when it fails
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of our own (initdb in a temp dir, own port) that outage tests stop and start."""
    try:
        cluster = PrivatePostgres()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        try:
            cluster.init()
            cluster.start()
        except ServerUnavailable as exc:
            unavailable(str(exc))
        yield cluster
    finally:
        cluster.close()
