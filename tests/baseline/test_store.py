"""The baseline store's contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from baseline.errors import BaselineError, StoreBusy, StoreCorrupt, StoreUnavailable
from baseline.store import Store, open_store, redact_url, to_signed, to_unsigned, utc

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class TestOpening:
    """Creating, migrating and refusing what cannot be read."""

    def test_reopen_is_idempotent(self, store_url: str) -> None:
        """Opening twice migrates once and keeps what was written."""
        first = open_store(store_url)
        with first.transaction() as tx:
            tx.ensure_epoch("s", NOW)
        first.close()
        second = open_store(store_url)
        assert second.epoch("s") is not None
        second.close()

    def test_garbage_file_is_corrupt_not_recreated(self, tmp_path: Path) -> None:
        """F26: A file that is not a database is an error; it is left untouched."""
        path = tmp_path / "b.db"
        path.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises((StoreCorrupt, StoreUnavailable)):
            open_store(f"sqlite:///{path}")
        assert path.read_bytes().startswith(b"this is not sqlite")

    def test_unreachable_postgres_is_unavailable_without_password(self) -> None:
        """A server that does not answer is StoreUnavailable, with the password masked."""
        with pytest.raises(StoreUnavailable) as info:
            open_store("postgresql+psycopg://poller:Canary-Pw-123@127.0.0.1:1/poller")
        assert "Canary-Pw-123" not in str(info.value)

    def test_redact_url(self) -> None:
        """URLs shown to people have their password masked."""
        assert "s3cret" not in redact_url("postgresql://u:s3cret@h/db")

    def test_sqlite_pragmas(self, tmp_path: Path) -> None:
        """SQLite runs with WAL and synchronous=FULL."""
        s = open_store(f"sqlite:///{tmp_path / 'b.db'}")
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        s.close()


class TestHashes:
    """Signed storage of unsigned digests."""

    @pytest.mark.parametrize("digest", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
    def test_roundtrip(self, digest: int) -> None:
        """B04: Every 64-bit digest survives the signed column."""
        assert to_unsigned(to_signed(digest)) == digest
        assert -(2**63) <= to_signed(digest) < 2**63

    def test_extreme_hash_stored(self, store: Store) -> None:
        """The column holds the extremes on both backends."""
        row = {
            "source": "s", "entity_type": "t", "key": "k", "hash": to_signed(2**64 - 1), "version": 1, "payload": None,
            "name": None, "parent_type": None, "parent_key": None, "state": None, "project": None,
            "first_seen": NOW, "last_changed": NOW, "misses": 0, "deleted_at": None,
        }
        with store.transaction() as tx:
            tx.insert_entities([row])
        assert store.load_hashes("s", "t") == {"k": to_signed(2**64 - 1)}


class TestTransactions:
    """All or nothing."""

    def test_rollback_on_error(self, store: Store) -> None:
        """An exception inside a transaction leaves nothing behind."""
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.ensure_epoch("s", NOW)
            raise RuntimeError("boom")
        assert store.epoch("s") is None

    def test_a_bulk_write_that_fails_in_the_writer_thread_fails_the_transaction(self, store: Store) -> None:
        """A bulk insert runs in the writer thread: when it fails (a key inserted twice), the error
        reaches the transaction's owner at the next use of the connection or at the commit, and
        nothing of the transaction is committed, the epoch written before it included."""

        def row(key: str) -> dict[str, object]:
            return {"source": "s", "entity_type": "t", "key": key, "hash": 1, "version": 1, "payload": b"{}",
                    "name": None, "parent_type": None, "parent_key": None, "state": None, "project": None,
                    "first_seen": NOW, "last_changed": NOW, "misses": 0, "deleted_at": None}

        with pytest.raises(BaselineError), store.transaction() as tx:
            tx.ensure_epoch("s", NOW)
            tx.insert_entities([row("a"), row("b")])
            tx.insert_entities([row("b")])  # queued behind the first: fails there, not here
        assert store.epoch("s") is None and store.load_hashes("s", "t") == {}
        with store.transaction() as tx:  # the store is usable afterwards; payloads are compressed by the store
            tx.insert_entities([row("a"), row("b")])
            assert tx.live_count("s", "t") == 2  # a read waits for the queued insert
        assert [e.payload for e in store.iter_entities()] == [b"{}", b"{}"]

    def test_readonly_rolls_back(self, store: Store) -> None:
        """A read-only transaction never commits."""
        with store.transaction(readonly=True) as tx:
            tx.ensure_epoch("s", NOW)
        assert store.epoch("s") is None


class TestLeases:
    """One holder per source, fenced by a token, on the database's clock."""

    def test_second_holder_refused_until_expiry(self, store: Store) -> None:
        """A live lease refuses another holder; an expired one is taken over with the next token (F23)."""
        assert store.acquire_lease("s", "a", 60) == 1
        with store.transaction() as tx:
            tx.conn.execute(sa.text("UPDATE poller_leases SET host = 'elsewhere'"))
        assert store.acquire_lease("s", "b", 60) is None
        with store.transaction() as tx:  # a minute passes for the database
            tx.conn.execute(sa.text("UPDATE poller_leases SET expires_at = :t"), {"t": datetime(2000, 1, 1, tzinfo=UTC)})
        assert store.acquire_lease("s", "b", 60) == 2
        assert store.lease_holder("s") == "b" and store.lease_token("s") == 2

    def test_dead_local_holder_is_taken_over(self, store: Store) -> None:
        """A lease left by a dead process on this host (kill -9) does not block a restart (F17)."""
        assert store.acquire_lease("s", "a", 3600)
        with store.transaction() as tx:
            tx.conn.execute(sa.text("UPDATE poller_leases SET pid = 999999999"))
        assert store.acquire_lease("s", "b", 3600) == 2

    def test_release_keeps_the_token_counting(self, store: Store) -> None:
        """A released lease is free, and the next holder's token is still higher."""
        token = store.acquire_lease("s", "a", 60)
        assert store.release_lease("s", "a", token)
        assert store.lease_holder("s") is None
        assert store.acquire_lease("s", "b", 60) == (token or 0) + 1

    def test_renewal_never_recreates_a_lost_lease(self, store: Store) -> None:
        """Renewal extends only the holder's own unexpired lease with its token."""
        token = store.acquire_lease("s", "a", 60) or 0
        assert store.renew_lease("s", "a", token, 60)
        assert not store.renew_lease("s", "a", token + 1, 60)
        assert not store.renew_lease("s", "b", token, 60)
        with store.transaction() as tx:
            tx.conn.execute(sa.text("UPDATE poller_leases SET expires_at = :t"), {"t": datetime(2000, 1, 1, tzinfo=UTC)})
        assert not store.renew_lease("s", "a", token, 60)
        store.release_lease("s", "a", token)
        assert not store.renew_lease("s", "a", token, 60)
        assert store.lease_holder("s") is None

    def test_fence_inside_a_transaction(self, store: Store) -> None:
        """assert_lease is True only for the current holder and token."""
        token = store.acquire_lease("s", "a", 60) or 0
        with store.transaction() as tx:
            assert tx.assert_lease("s", "a", token, 60)
            assert not tx.assert_lease("s", "a", token - 1, 60)
            assert not tx.assert_lease("s", "other", token, 60)

    def test_taking_over_abandons_the_old_holders_runs(self, store: Store) -> None:
        """The running run rows of a holder whose lease was taken over are closed as abandoned."""
        assert store.acquire_lease("s", "a", -1)  # already expired
        run_id = store.start_run("s", "a", NOW)
        assert store.acquire_lease("s", "b", 60) == 2
        assert [(r.id, r.status) for r in store.runs("s")] == [(run_id, "abandoned")]

    def test_F13_write_locked_sqlite_fails_the_lease_instead_of_skipping(self, tmp_path: Path) -> None:
        """F13: SQLite write-locked by another connection past the busy timeout: taking a lease
        raises StoreBusy (the run fails and is counted), not "another holder" (a skipped run)."""
        import sqlite3

        store = open_store(f"sqlite:///{tmp_path / 'b.db'}", lock_timeout=0.3)
        try:
            blocker = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                with pytest.raises(StoreBusy, match="busy"):
                    store.acquire_lease("s", "a", 60)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert store.acquire_lease("s", "a", 60) == 1
        finally:
            store.close()

    def test_lease_uses_the_database_clock(self, store: Store) -> None:
        """expires_at is the database's now plus the TTL, whatever this process's clock says."""
        store.acquire_lease("s", "a", 3600)
        with store.transaction() as tx:
            row = tx.lease_row("s")
        assert not row.expired
        assert abs((utc(row.expires_at) - datetime.now(UTC)).total_seconds() - 3600) < 120


class TestCursors:
    """Sink cursors and parking."""

    def test_cursor_roundtrip(self, store: Store) -> None:
        """A cursor moves and remembers its last error."""
        store.set_cursor("hook", 5, NOW, error="HTTP 500", failures=2)
        cursor = store.cursor("hook")
        assert cursor is not None and (cursor.position, cursor.last_error, cursor.failures) == (5, "HTTP 500", 2)
        store.set_cursor("hook", 9, NOW)
        assert store.cursor("hook").position == 9  # type: ignore[union-attr]

    def test_cursor_never_moves_back(self, store: Store) -> None:
        """A late writer (a deliverer that froze and woke after another node moved on) cannot move the
        cursor back; its error is still recorded."""
        store.set_cursor("hook", 9, NOW)
        store.set_cursor("hook", 4, NOW, error="late", failures=1)
        cursor = store.cursor("hook")
        assert cursor is not None and (cursor.position, cursor.last_error) == (9, "late")


def test_upgrade_from_the_first_schema_keeps_leases(store_url: str) -> None:
    """A database at revision 0001 with a lease row is upgraded by the next writer; the lease
    gets token 0 and the next take hands out token 1."""
    from alembic import command
    from alembic.config import Config

    from baseline.store import _MIGRATIONS

    first = open_store(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with first.engine.connect().execution_options(poller_write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO poller_leases (source, holder, host, pid, expires_at)"
                             " VALUES ('s', 'old', 'elsewhere', 1, :t)"), {"t": datetime(2000, 1, 1, tzinfo=UTC)})
    first.close()
    second = open_store(store_url)
    try:
        assert second.lease_token("s") == 0
        assert second.acquire_lease("s", "new", 60) == 1
    finally:
        second.close()


def test_F25_upgrade_from_0002_widens_the_outbox_action(store_url: str) -> None:
    """F25: a database at revision 0002 (outbox action of 16 characters) is upgraded by the next writer and
    then takes a baseline_initialized row (20 characters; PostgreSQL would refuse it in the old column)."""
    from alembic import command
    from alembic.config import Config

    from baseline.store import _MIGRATIONS

    first = open_store(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with first.engine.connect().execution_options(poller_write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    first.close()
    second = open_store(store_url)
    try:
        with second.transaction() as tx:
            tx.append_outbox([{"id": "m-1", "source": "s", "run_id": None, "entity_type": "poller.baseline", "key": "e1",
                               "action": "baseline_initialized", "created_at": NOW, "body": b"{}"}])
        assert [row.action for row in second.history()] == ["baseline_initialized"]
    finally:
        second.close()


def test_schema_head_constant_is_alembics_head() -> None:
    """The schema version a store accepts without importing alembic is the migrations' real head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from baseline import store

    cfg = Config()
    cfg.set_main_option("script_location", str(store._MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [store.SCHEMA_HEAD]
