"""The lease a run holds: fencing, renewal, late release, bounded lock waits (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from baseline.store import Store, open_store
from collectors.base import Entity, EntityType, ListContext, Listing
from collectors.static import StaticCollector
from poller.run import lease as lease_mod
from poller.run.lease import LeaseKeeper, pending_releases
from tests.poller.helpers import run, vm


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Poll until ``predicate`` holds (a bound against hangs, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def expire(store: Store, source: str) -> None:
    """Make the source's lease expired for the database (as if its TTL had passed)."""
    with store.transaction() as tx:
        tx.conn.execute(sa.text("UPDATE poller_leases SET expires_at = :t WHERE source = :s"),
                        {"t": datetime(2000, 1, 1, tzinfo=UTC), "s": source})


@pytest.fixture
def quick_store(store_url: str) -> Iterator[Store]:
    """A store whose lock waits give up after half a second."""
    store = open_store(store_url, lock_timeout=0.5)
    yield store
    store.close()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database URL."""
    from tests.conftest import _drop_pg_database, _new_pg_database

    name, url = _new_pg_database(pg_server)
    yield url
    _drop_pg_database(pg_server, name)


class _Blocker:
    """Another connection holding the lock a lease statement needs (SQLite: the write lock;
    PostgreSQL: an exclusive lock on poller_leases): the database does not answer in time."""

    def __init__(self, store: Store, url: str) -> None:
        self.store, self.url = store, url
        self.conn: Any = None

    def __enter__(self) -> _Blocker:
        if self.store.dialect == "sqlite":
            self.conn = sqlite3.connect(sa.engine.make_url(self.url).database, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            engine = sa.create_engine(self.url)
            self.conn = engine.connect()
            self.conn.begin()
            self.conn.exec_driver_sql("LOCK TABLE poller_leases IN ACCESS EXCLUSIVE MODE")
        return self

    def release(self) -> None:
        if self.conn is None:
            return
        if self.store.dialect == "sqlite":
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.conn.rollback()
            self.conn.close()
            self.conn.engine.dispose()
        self.conn = None

    def __exit__(self, *_exc: object) -> None:
        self.release()


class TestKeeper:
    def test_F23_fence_fails_once_another_holder_took_over(self, store: Store) -> None:
        """F23: after a takeover the old keeper's fence is False and a renewal does not bring the lease back."""
        keeper = LeaseKeeper(store, "s", 60)
        assert keeper.acquire() and keeper.token == 1
        with store.transaction() as tx:
            assert keeper.still_ours(tx)
        expire(store, "s")
        assert store.acquire_lease("s", "other", 60) == 2
        with store.transaction() as tx:
            assert not keeper.still_ours(tx)
        assert not store.renew_lease("s", keeper.holder, 1, 60)
        assert store.lease_holder("s") == "other"
        keeper.release()
        assert store.lease_holder("s") == "other"  # a stale release never frees the new holder's lease

    def test_renewal_thread_notices_the_loss(self, store: Store) -> None:
        """The renewal thread marks the keeper lost when its lease expired (it never re-creates it)."""
        keeper = LeaseKeeper(store, "s", 0.3)
        assert keeper.acquire()
        expire(store, "s")
        wait_for(lambda: keeper.lost, "the keeper to see its lease lost")
        assert store.lease_holder("s") == keeper.holder  # the row is untouched: expired, not renewed
        with store.transaction() as tx:
            assert tx.lease_row("s").expired
        keeper.release()

    def test_release_after_an_outage_is_retried_until_the_database_answers(
        self, quick_store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A release the database did not answer (locked past lock_timeout) is owed, retried in the
        background, and done once the database answers: the source is free without waiting for the TTL."""
        monkeypatch.setattr(lease_mod, "RELEASE_RETRY", 0.2)
        keeper = LeaseKeeper(quick_store, "s", 600)
        assert keeper.acquire()
        with _Blocker(quick_store, store_url) as blocker:
            assert keeper.release() is False
            assert pending_releases() == [("s", keeper.holder, keeper.token)]
            blocker.release()
            wait_for(lambda: not pending_releases(), "the owed release to go through")
        assert quick_store.lease_holder("s") is None
        assert quick_store.acquire_lease("s", "next", 60) == 2


class _TakeoverCollector(StaticCollector):
    """Lists like the static collector, but another process takes the lease over mid-listing."""

    def __init__(self, store: Store, entities: list[dict[str, Any]]) -> None:
        super().__init__("src", {"entities": entities})
        self.store = store

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        inner = super().list(etype, context)
        return Listing(etype.name, self._gen(inner))

    def _gen(self, inner: Listing) -> Iterator[Entity]:
        for index, entity in enumerate(inner):
            if index == 1:
                expire(self.store, "src")
                assert self.store.acquire_lease("src", "other-process", 60)
            yield entity


class TestRuns:
    def test_F17_run_whose_lease_was_taken_commits_nothing(self, store: Store, clock: Any) -> None:
        """F17: a run whose lease was taken over mid-listing ends lease_lost with nothing committed."""
        run(store, [vm("a"), vm("b")], clock)
        before = [(e.key, e.version) for e in store.iter_entities("src")]
        outbox = store.last_seq()
        entities = [vm("a", size=2), vm("c")]
        result, _ = run(store, entities, clock, collector=_TakeoverCollector(store, entities))
        assert result.status == "lease_lost" and "lease lost" in (result.error or "")
        assert [(e.key, e.version) for e in store.iter_entities("src")] == before
        assert store.last_seq() == outbox
        assert store.runs("src", limit=1)[0].status == "lease_lost"
        assert store.lease_holder("src") == "other-process"

    def test_F13_blocked_run_fails_cleanly_and_frees_its_lease(self, pg_url: str, clock: Any) -> None:
        """F13: on PostgreSQL a run blocked by a table lock fails after lock_timeout with one
        line naming the busy database, and its lease is given back (SQLite's busy timeout:
        tests/e2e/test_overlap.py)."""
        store_url = pg_url
        store = open_store(store_url, lock_timeout=0.5)
        engine = sa.create_engine(store_url)
        try:
            with engine.connect() as blocker:
                blocker.begin()
                blocker.exec_driver_sql("LOCK TABLE poller_entities IN ACCESS EXCLUSIVE MODE")
                result, _ = run(store, [vm("a")], clock)
                blocker.rollback()
            assert result.status == "failed" and "baseline DB busy" in (result.error or "")
            assert "\n" not in (result.error or "")
            assert store.lease_holder("src") is None
        finally:
            engine.dispose()
            store.close()


class TestConfiguration:
    def test_lease_ttl_and_timeouts_reach_the_run_and_the_store(self, tmp_path: Any) -> None:
        """service.lease_ttl sets the runs' lease TTL; baseline.lock_timeout and statement_timeout
        bound the store's waits (defaults: 30 s lease, SQLite busy timeout 30 s)."""
        from poller.config import parse_config
        from poller.run.snapshot import open_config_store, settings_for

        url = f"sqlite:///{tmp_path / 'b.db'}"
        text = (f"baseline: {{url: '{url}', lock_timeout: 2s, statement_timeout: 1m}}\n"
                "service: {lease_ttl: 12s}\nsources: [{name: s, collector: noop}]\n")
        config = parse_config(text, "p.yaml", {})
        assert settings_for(config).lease_ttl == 12.0
        store = open_config_store(config)
        try:
            assert (store.lock_timeout, store.statement_timeout) == (2.0, 60.0)
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
        finally:
            store.close()
        default = parse_config("sources: [{name: s, collector: noop}]\n", "p.yaml", {})
        assert settings_for(default).lease_ttl == 30.0 and default.baseline.lock_timeout is None

    def test_postgresql_sessions_carry_the_timeouts(self, pg_url: str) -> None:
        """Every PostgreSQL connection runs with lock_timeout and statement_timeout (defaults 10 s, 5 min)."""
        store = open_store(pg_url)
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "10s"
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "5min"
        finally:
            store.close()

    def test_lease_ttl_below_a_second_is_refused(self) -> None:
        """A lease TTL under one second (renewed every third of it) is a configuration error."""
        from poller.config import ConfigError, parse_config

        with pytest.raises(ConfigError, match="service.lease_ttl: must be a duration of at least 1s"):
            parse_config("service: {lease_ttl: 0}\nsources: [{name: s, collector: noop}]\n", "p.yaml", {})
