"""The baseline store: per-entity hashes and payloads, runs, leases, the outbox and
sink cursors, on SQLAlchemy (SQLite by default, PostgreSQL in production).

The only module that imports SQLAlchemy at run time. Every write of a run (baseline
rows, outbox rows, the run record) happens inside one ``Store.transaction()``; a
crash before its commit leaves the previous baseline intact. It never decides what
changed: that is ``baseline.diff``'s job.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from baseline import codec, schema
from baseline.checkpoint import Checkpointer
from baseline.errors import SchemaBehind, StoreBusy, StoreCorrupt, StoreMisconfigured, StoreUnavailable
from baseline.index import BaselineIndex
from baseline.rows import (
    CursorRow,
    OutboxRow,
    ParkedSummary,
    RunRow,
    StoredEntity,
    TypeState,
    compress,
    decompress,
    redact_url,
    stored_entity,
    to_signed,
    to_unsigned,
    utc,
)
from baseline.transaction import Transaction

__all__ = [
    "CursorRow", "OutboxRow", "ParkedSummary", "RunRow", "Store", "StoredEntity", "Transaction", "TypeState", "compress", "decompress",
    "check_url", "default_url", "open_store", "redact_url", "to_signed", "to_unsigned", "utc",
]

_MIGRATIONS = Path(__file__).with_name("migrations")


def default_url() -> str:
    """The embedded default: a SQLite file in the user's state directory."""
    from platformdirs import user_state_dir

    return f"sqlite:///{Path(user_state_dir('cloud-poller')) / 'baseline.db'}"


# Database driver modules -> the cloud-poller extra that installs them.
_DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres", "psycopg_binary": "postgres"}


def check_url(url: str | None) -> Any:
    """The parsed ``baseline.url`` (the default when None) after checking, without connecting,
    that it parses and that its database driver imports; StoreMisconfigured otherwise."""
    url = url or default_url()
    safe = redact_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreMisconfigured(f"baseline.url is not a database URL: {safe}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        dialect = parsed.get_dialect()
    except Exception as exc:  # sqlalchemy.exc.NoSuchModuleError: an unknown database or driver name
        raise StoreMisconfigured(f"baseline.url: unknown database kind {parsed.drivername!r} in {safe}") from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = (getattr(exc, "name", None) or parsed.get_driver_name()).split(".")[0]
        extra = _DRIVER_EXTRAS.get(module)
        hint = (f"pip install 'cloud-poller[{extra}]'" if extra else f"install the Python package that provides {module!r}")
        raise StoreMisconfigured(
            f"baseline.url {safe} needs the database driver {module!r}, which is not installed: {hint}"
        ) from exc
    return parsed


# The newest migration (baseline/migrations/versions); tests/baseline/test_store.py keeps it equal to alembic's head.
SCHEMA_HEAD = "0005"


def open_store(
    url: str | None = None, *, readonly: bool = False, lock_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> Store:
    """Open the baseline database at ``url``; a writer creates and migrates it as needed.

    ``readonly`` (the reporting commands) never takes SQLite's write lock and never
    upgrades an existing schema: it fails with SchemaBehind when the schema is older than
    this release. Only a database with no schema at all is created (under the migration
    lock, see ``Store.migrate``). ``lock_timeout`` bounds every lock wait (SQLite's busy
    timeout, PostgreSQL's ``lock_timeout``; default 30 s and 10 s), ``statement_timeout``
    every PostgreSQL statement (default 300 s).
    """
    url = url or default_url()
    safe = redact_url(url)
    parsed = check_url(url)
    is_sqlite = parsed.drivername.startswith("sqlite")
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the directory of baseline {safe}: {exc.strerror}") from exc
    if lock_timeout is None:
        lock_timeout = SQLITE_LOCK_TIMEOUT if is_sqlite else PG_LOCK_TIMEOUT
    if statement_timeout is None:
        statement_timeout = PG_STATEMENT_TIMEOUT
    try:
        engine = sa.create_engine(parsed, **_engine_options(is_sqlite, lock_timeout, statement_timeout))
    except Exception as exc:  # e.g. a driver that is not installed
        raise StoreUnavailable(f"cannot use baseline {safe}: {type(exc).__name__}") from exc
    checkpointer = None
    if is_sqlite:
        if not readonly and parsed.database and parsed.database != ":memory:":
            checkpointer = Checkpointer(parsed.database, lock_timeout)
        _configure_sqlite(engine, lock_timeout, readonly, background_checkpoints=checkpointer is not None)
    store = Store(engine, safe, readonly=readonly, lock_timeout=lock_timeout, statement_timeout=statement_timeout,
                  checkpointer=checkpointer)
    if readonly:
        store.check_schema()
    else:
        store.migrate()
    return store


# Default bounds of lock waits and statements (baseline.lock_timeout / statement_timeout).
SQLITE_LOCK_TIMEOUT = 30.0  # a run's commit holds SQLite's single write lock throughout
PG_LOCK_TIMEOUT = 10.0
PG_STATEMENT_TIMEOUT = 300.0
# PostgreSQL advisory lock key held by the process that migrates ("pollMIGR").
MIGRATION_LOCK = 0x706F6C6C4D494752


def _engine_options(is_sqlite: bool, lock_timeout: float, statement_timeout: float) -> dict[str, Any]:
    if is_sqlite:
        return {"connect_args": {"timeout": lock_timeout, "check_same_thread": False}}
    # No server-side prepared statements: after a bulk first load the table has no statistics
    # yet, and a generic plan for "UPDATE ... WHERE source, type, key" chose a sequential scan
    # per row (10,000 updates took 90 s); planned with their values they use the primary key.
    options = f"-c lock_timeout={int(lock_timeout * 1000)} -c statement_timeout={int(statement_timeout * 1000)}"
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10, "prepare_threshold": None, "options": options}}


def _configure_sqlite(engine: Engine, lock_timeout: float, readonly_store: bool, *, background_checkpoints: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        if not readonly_store:
            cur.execute("PRAGMA journal_mode=WAL")  # WAL: readers never wait for the writer
        cur.execute("PRAGMA synchronous=FULL")
        if background_checkpoints:
            cur.execute("PRAGMA wal_autocheckpoint=0")  # the store's Checkpointer does it after the commit
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writing transactions (Store.transaction, the migration) take the write lock up front
        # (no upgrade deadlocks); every read is a plain BEGIN, which in WAL mode never waits for
        # a writer. A read-only store never asks for the write lock.
        write = not readonly_store and conn.get_execution_options().get("poller_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """The baseline database; see the module docstring for what it promises."""

    def __init__(
        self, engine: Engine, safe_url: str, *, readonly: bool = False, lock_timeout: float = PG_LOCK_TIMEOUT,
        statement_timeout: float = PG_STATEMENT_TIMEOUT, checkpointer: Checkpointer | None = None,
    ) -> None:
        self.engine = engine
        self._checkpointer = checkpointer  # SQLite: the log is copied back after a commit, not in it
        self.url = safe_url
        self.dialect = engine.dialect.name
        self.readonly = readonly
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        codec.add_loader(self)  # blobs name their zstd dictionary; this database can be asked for it

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        """Bring the schema to the newest migration (run on every writing open; cheap when
        current). Serialized: on PostgreSQL under an advisory lock held on one connection
        across the migration, on SQLite inside one BEGIN IMMEDIATE transaction; a process
        that waited finds the schema current and does nothing."""
        with self._errors("migrate"):
            with self._snapshot() as conn, conn.begin():
                if self._is_current(conn):
                    return
            if self.dialect == "postgresql":
                self._migrate_postgresql()
            else:
                # BEGIN IMMEDIATE: the others wait here for the write lock, then find it current.
                with self.engine.connect().execution_options(poller_write=True) as conn, conn.begin():
                    self._upgrade(conn)

    def _snapshot(self) -> Connection:
        """A connection whose transaction reads one snapshot (PostgreSQL: REPEATABLE READ;
        a SQLite read transaction already does), for checking the schema while another
        process may be migrating it."""
        conn = self.engine.connect()
        if self.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return conn

    def _migrate_postgresql(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as locker:
            # Wait for another migrating process as long as a statement may run, not lock_timeout.
            locker.exec_driver_sql(f"SET lock_timeout = {int(self.statement_timeout * 1000)}")
            locker.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            try:
                with self.engine.begin() as conn:
                    self._upgrade(conn)
            finally:
                locker.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                locker.exec_driver_sql("RESET lock_timeout")

    def _upgrade(self, conn: Connection) -> None:
        from alembic import command
        from alembic.config import Config

        if self._is_current(conn):
            return
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    def check_schema(self) -> None:
        """For a read-only store: fail with SchemaBehind when the schema is older than this
        release (never migrating it); a database without any schema yet is created."""
        with self._errors("read the baseline"), self._snapshot() as conn, conn.begin():
            if self._is_current(conn):
                return
            from alembic.runtime.migration import MigrationContext

            empty = not MigrationContext.configure(conn).get_current_heads()
        if empty:
            self.migrate()  # a new database: nothing can be writing it yet but another creator
            return
        raise SchemaBehind(
            f"baseline {self.url}: the schema is behind this cloud-poller; read-only commands never upgrade it:"
            " run a writing command (`poller snapshot` or `poller run`) first"
        )

    def _is_current(self, conn: Connection) -> bool:
        # The common case answered without importing alembic (a tenth of a second per command).
        try:
            with conn.begin_nested():
                versions = [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
        except DBAPIError:
            versions = []
        if versions == [SCHEMA_HEAD]:
            return True
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        # Tables before the migration record: should another process commit the migration
        # between the two reads, we then see its record rather than tables without one.
        try:
            tables = set(sa.inspect(conn).get_table_names())
            current = MigrationContext.configure(conn).get_current_heads()
        except DBAPIError as exc:
            raise StoreCorrupt(f"baseline {self.url} cannot be read as a database") from exc
        if not current and "poller_entities" in tables:
            raise StoreCorrupt(f"baseline {self.url} has poller tables but no migration record; refusing to touch it")
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        script = ScriptDirectory.from_config(cfg)
        heads = set(script.get_heads())
        known = {rev.revision for rev in script.walk_revisions()}
        if not set(current) <= known:
            raise StoreCorrupt(f"baseline {self.url} was written by a newer cloud-poller (schema {current})")
        return set(current) == heads

    def load_dictionary(self, dict_id: int) -> bytes | None:
        """The stored zstd dictionary ``dict_id`` (baseline.codec asks when a blob names one it has not seen)."""
        d = schema.dictionaries
        with self._errors("read the baseline"), self.engine.connect() as conn:
            data = conn.execute(sa.select(d.c.data).where(d.c.id == dict_id)).scalar_one_or_none()
        return None if data is None else bytes(data)

    def close(self) -> None:
        """Release every connection (after a background checkpoint under way has finished)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (StoreCorrupt, StoreUnavailable):
            raise
        except SQLAlchemyError as exc:
            if _is_timeout(exc):
                raise StoreBusy(f"baseline {self.url}: baseline DB busy, cannot {doing} ({_db_reason(exc)})") from exc
            raise StoreUnavailable(f"baseline {self.url}: cannot {doing} ({_db_reason(exc)})") from exc
        except OSError as exc:
            raise StoreUnavailable(f"baseline {self.url}: cannot {doing} ({exc.strerror or type(exc).__name__})") from exc

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        """One transaction: everything written through it commits together or not at all.

        A ``readonly`` transaction is always rolled back (dry runs use it).
        """
        with self._errors("write" if not readonly else "read"):
            conn = self.engine.connect().execution_options(poller_write=not readonly)
            try:
                trans = conn.begin()
                tx = Transaction(conn, self.dialect, lock_wait=self.statement_timeout, spool_outbox=readonly)
                try:
                    yield tx
                    if not readonly:
                        tx.write_outbox()  # under the outbox lock, in commit order
                        tx.flush()  # every bulk write has run (and none failed) before the commit
                except BaseException:
                    tx.discard()  # waits for the writer thread first: never a rollback under a running write
                    trans.rollback()
                    raise
                if readonly:
                    tx.discard()
                    trans.rollback()
                else:
                    tx.close()
                    trans.commit()
            finally:
                conn.close()
            if not readonly and self._checkpointer is not None:
                self._checkpointer.committed()

    # ------------------------------------------------------------------ reads

    def load_hashes(self, source: str, entity_type: str) -> dict[str, int]:
        """key -> signed hash of every live (not deleted) baseline entity of one type."""
        sql = "SELECT key, hash FROM poller_entities WHERE source = {p} AND entity_type = {p} AND deleted_at IS NULL"
        out: dict[str, int] = {}
        with self._errors("read the baseline"):
            for chunk in self._raw_query(sql, (source, entity_type)):
                out.update(chunk)
        return out

    def load_index(self, source: str, entity_type: str, *, source_digests: bool = False) -> BaselineIndex:
        """The live baseline hashes of one type, held compactly (see baseline/index.py); with
        ``source_digests``, the digests of the raw records they were read from too."""
        columns = "key, hash, source_digest" if source_digests else "key, hash"
        sql = f"SELECT {columns} FROM poller_entities WHERE source = {{p}} AND entity_type = {{p}} AND deleted_at IS NULL"
        with self._errors("read the baseline"):
            return BaselineIndex.from_chunks(self._raw_query(sql, (source, entity_type)))

    def load_misses(self, source: str, entity_type: str) -> dict[str, int]:
        """key -> consecutive misses, for live entities that were missed at least once."""
        sql = (
            "SELECT key, misses FROM poller_entities WHERE source = {p} AND entity_type = {p}"
            " AND deleted_at IS NULL AND misses > 0"
        )
        out: dict[str, int] = {}
        with self._errors("read the baseline"):
            for chunk in self._raw_query(sql, (source, entity_type)):
                out.update(chunk)
        return out

    def load_tombstones(self, source: str, entity_type: str) -> dict[str, int]:
        """key -> version of every deleted entity still remembered (for re-creation)."""
        sql = "SELECT key, version FROM poller_entities WHERE source = {p} AND entity_type = {p} AND deleted_at IS NOT NULL"
        out: dict[str, int] = {}
        with self._errors("read the baseline"):
            for chunk in self._raw_query(sql, (source, entity_type)):
                out.update(chunk)
        return out

    def _raw_query(self, sql: str, params: tuple[Any, ...]) -> Iterator[list[tuple[Any, ...]]]:
        """Rows in chunks straight from the driver's cursor (Row objects cost twice as much)."""
        placeholder = "?" if self.dialect == "sqlite" else "%s"
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            if self.dialect == "postgresql":
                with conn.begin():
                    cur = raw.cursor(name=f"poller_{uuid.uuid4().hex[:12]}")
                    cur.itersize = 20000
                    cur.execute(sql.format(p=placeholder), params)
                    yield from iter(lambda: cur.fetchmany(20000), [])
                    cur.close()
            else:
                cur = raw.cursor()
                cur.execute(sql.format(p=placeholder), params)
                yield from iter(lambda: cur.fetchmany(20000), [])
                cur.close()

    def epoch(self, source: str) -> str | None:
        """The source's baseline epoch, or None before its first committed run."""
        with self._errors("read the baseline"), self.engine.connect() as conn:
            return conn.execute(
                sa.select(schema.sources.c.epoch).where(schema.sources.c.source == source)
            ).scalar_one_or_none()

    def type_state(self, source: str, entity_type: str) -> TypeState | None:
        """What is known about earlier listings of one type, or None if never listed."""
        t = schema.type_states
        with self._errors("read the baseline"), self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.source == source, t.c.entity_type == entity_type)).first()
        if row is None:
            return None
        return TypeState(
            row.fingerprint, row.last_full_run, utc(row.last_full_at), utc(row.last_listed_at),
            row.listings_since_full or 0, row.count or 0,
        )

    def counts(self, source: str | None = None) -> dict[tuple[str, str], int]:
        """(source, type) -> number of live baseline entities."""
        e = schema.entities
        query = sa.select(e.c.source, e.c.entity_type, sa.func.count()).where(e.c.deleted_at.is_(None))
        if source is not None:
            query = query.where(e.c.source == source)
        query = query.group_by(e.c.source, e.c.entity_type)
        with self._errors("read the baseline"), self.engine.connect() as conn:
            return {(r[0], r[1]): r[2] for r in conn.execute(query)}

    def iter_entities(self, source: str | None = None, *, include_deleted: bool = False) -> Iterator[StoredEntity]:
        """Every baseline entity (of one source), ordered by source, type and key."""
        e = schema.entities
        query = sa.select(e).order_by(e.c.source, e.c.entity_type, e.c.key)
        if source is not None:
            query = query.where(e.c.source == source)
        if not include_deleted:
            query = query.where(e.c.deleted_at.is_(None))
        with self._errors("read the baseline"), self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(query):
                yield stored_entity(row)

    def sources(self) -> list[str]:
        """Every source with a committed baseline."""
        with self._errors("read the baseline"), self.engine.connect() as conn:
            return list(conn.execute(sa.select(schema.sources.c.source).order_by(schema.sources.c.source)).scalars())

    def runs(self, source: str | None = None, limit: int = 20) -> list[RunRow]:
        """The newest runs, newest first."""
        r = schema.runs
        query = sa.select(r).order_by(r.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(r.c.source == source)
        with self._errors("read the runs"), self.engine.connect() as conn:
            return [
                RunRow(x.id, x.source, utc(x.started_at), utc(x.finished_at), x.status, x.summary)  # type: ignore[arg-type]
                for x in conn.execute(query)
            ]

    def history(
        self,
        *,
        source: str | None = None,
        since: datetime | None = None,
        run_id: int | None = None,
        entity_type: str | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> Iterator[OutboxRow]:
        """Recorded notifications in outbox order, filtered."""
        o = schema.outbox
        query = sa.select(o).order_by(o.c.seq)
        if source is not None:
            query = query.where(o.c.source == source)
        if since is not None:
            query = query.where(o.c.created_at >= since)
        if run_id is not None:
            query = query.where(o.c.run_id == run_id)
        if entity_type is not None:
            query = query.where(o.c.entity_type == entity_type)
        if after_seq is not None:
            query = query.where(o.c.seq > after_seq)
        if limit is not None:
            query = query.limit(limit)
        with self._errors("read the outbox"), self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query):
                yield OutboxRow(
                    row.seq, row.id, row.source, row.run_id, row.entity_type, row.key, row.action,
                    utc(row.created_at), decompress(row.body),  # type: ignore[arg-type]
                )

    def run_notifications(self, run_id: int) -> Iterator[tuple[int, str, str, str, str, bytes]]:
        """(seq, id, source, entity_type, action, body) of one run's notifications, in order.

        The fast path for handing a run's output on (a first load has a million of them).
        """
        sql = "SELECT seq, id, source, entity_type, action, body FROM poller_outbox WHERE run_id = {p} ORDER BY seq"
        with self._errors("read the outbox"):
            for chunk in self._raw_query(sql, (run_id,)):
                bodies = codec.decompress_many([bytes(row[5]) for row in chunk])
                for (seq, nid, source, etype, action, _), body in zip(chunk, bodies, strict=True):
                    yield seq, nid, source, etype, action, body

    def last_seq(self) -> int:
        """The newest outbox sequence number (0 when empty)."""
        with self._errors("read the outbox"), self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(schema.outbox.c.seq))).scalar() or 0

    # ------------------------------------------------------------------ sink cursors

    def cursor(self, sink: str) -> CursorRow | None:
        """A durable sink's position, or None before its first delivery."""
        c = schema.sink_cursors
        with self._errors("read a sink cursor"), self.engine.connect() as conn:
            row = conn.execute(sa.select(c).where(c.c.sink == sink)).first()
        if row is None:
            return None
        return CursorRow(row.sink, row.position, utc(row.updated_at), row.last_error, row.failures)  # type: ignore[arg-type]

    def cursors(self) -> list[CursorRow]:
        """Every durable sink's position."""
        c = schema.sink_cursors
        with self._errors("read sink cursors"), self.engine.connect() as conn:
            return [
                CursorRow(r.sink, r.position, utc(r.updated_at), r.last_error, r.failures)  # type: ignore[arg-type]
                for r in conn.execute(sa.select(c).order_by(c.c.sink))
            ]

    def set_cursor(
        self, sink: str, position: int, now: datetime, *, error: str | None = None, failures: int = 0,
        parked: Sequence[tuple[int, str]] = (),
    ) -> None:
        """Move a sink's cursor forward (and park refused records) in one transaction.

        The cursor never moves back: a deliverer that froze between sending a batch and
        recording it (another node took the sink over meanwhile) cannot undo the progress
        recorded since; its error and failure count are still recorded."""
        c = schema.sink_cursors
        with self.transaction() as tx:
            insert = (sqlite.insert if tx.dialect == "sqlite" else postgresql.insert)(c)
            stmt = insert.values(sink=sink, position=position, updated_at=now, last_error=error, failures=failures)
            tx.conn.execute(stmt.on_conflict_do_update(index_elements=["sink"], set_={
                "position": sa.case((stmt.excluded.position > c.c.position, stmt.excluded.position), else_=c.c.position),
                "updated_at": stmt.excluded.updated_at, "last_error": stmt.excluded.last_error,
                "failures": stmt.excluded.failures,
            }))
            for seq, reason in parked:
                tx.upsert(schema.parked, ["sink", "seq"], [{"sink": sink, "seq": seq, "parked_at": now, "reason": reason}])

    # ------------------------------------------------------------------ parked notifications

    def parked_summary(self) -> dict[str, ParkedSummary]:
        """Per sink with parked notifications: their count, the first parking time, the latest reason."""
        p = schema.parked
        with self._errors("read parked notifications"), self.engine.connect() as conn:
            groups = conn.execute(
                sa.select(p.c.sink, sa.func.count(), sa.func.min(p.c.parked_at), sa.func.max(p.c.seq)).group_by(p.c.sink)
            ).all()
            out = {}
            for sink, count, first, last_seq in groups:
                reason = conn.execute(sa.select(p.c.reason).where(p.c.sink == sink, p.c.seq == last_seq)).scalar()
                out[sink] = ParkedSummary(sink, count, utc(first), reason or "")  # type: ignore[arg-type]
            return out

    def parked_notifications(self, sink: str, *, after_seq: int = 0, limit: int = 500) -> list[OutboxRow]:
        """A page of ``sink``'s parked notifications still in the outbox, in outbox order."""
        o, p = schema.outbox, schema.parked
        query = (
            sa.select(o).join(p, sa.and_(p.c.seq == o.c.seq, p.c.sink == sink))
            .where(o.c.seq > after_seq).order_by(o.c.seq).limit(limit)
        )
        with self._errors("read parked notifications"), self.engine.connect() as conn:
            return [
                OutboxRow(
                    row.seq, row.id, row.source, row.run_id, row.entity_type, row.key, row.action,
                    utc(row.created_at), decompress(row.body),  # type: ignore[arg-type]
                )
                for row in conn.execute(query)
            ]

    def park(self, sink: str, seq: int, now: datetime, reason: str) -> None:
        """Park (again) one notification refused by ``sink`` for good."""
        with self.transaction() as tx:
            tx.upsert(schema.parked, ["sink", "seq"], [{"sink": sink, "seq": seq, "parked_at": now, "reason": reason}])

    def unpark(self, sink: str, seqs: Sequence[int]) -> int:
        """Forget parked notifications of ``sink`` (delivered by a replay); returns how many."""
        p = schema.parked
        removed = 0
        with self.transaction() as tx:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                removed += tx.conn.execute(sa.delete(p).where(p.c.sink == sink, p.c.seq.in_(chunk))).rowcount
        return removed

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, source: str, holder: str, ttl: float) -> int | None:
        """Take the source's lease for ``ttl`` seconds (database clock); returns its fencing
        token, or None while another live holder has it (or the wait for its row timed out).

        Taken when free, released, expired, or held by a dead process of this host. Taking
        it closes the ``running`` runs the previous holders left as ``abandoned``.
        """
        host, pid = socket.gethostname(), os.getpid()
        try:
            with self.transaction() as tx:
                token = tx.take_lease(source, holder, host, pid, ttl)
                if token is None:
                    row = tx.lease_row(source)
                    if row is None or row.host != host or row.pid == pid or _pid_alive(row.pid):
                        return None
                    token = tx.take_lease_from(source, int(row.token), holder, host, pid, ttl)
                    if token is None:
                        return None
                tx.abandon_runs(source, holder, datetime.now(UTC))
                return token
        except StoreBusy:
            if self.dialect == "sqlite":
                # BEGIN IMMEDIATE waited out the busy timeout: the whole database is write-locked
                # (by anything), which is a failure of this run, not another holder of the lease.
                raise
            return None  # another transaction holds the lease row (a commit): it is busy
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise

    def renew_lease(self, source: str, holder: str, token: int, ttl: float) -> bool:
        """Extend our lease; False if it expired or changed hands (it is never re-created)."""
        with self.transaction() as tx:
            return tx.renew_lease(source, holder, token, ttl)

    def lease_holder(self, source: str) -> str | None:
        """Who holds the source's lease now (None when free or released)."""
        lease = schema.leases
        with self._errors("read leases"), self.engine.connect() as conn:
            row = conn.execute(sa.select(lease).where(lease.c.source == source)).first()
        return None if row is None or not row.holder else row.holder

    def lease_token(self, source: str) -> int:
        """The source's current fencing token (0 before its first lease)."""
        lease = schema.leases
        with self._errors("read leases"), self.engine.connect() as conn:
            token = conn.execute(sa.select(lease.c.token).where(lease.c.source == source)).scalar_one_or_none()
        return int(token or 0)

    def release_lease(self, source: str, holder: str, token: int | None = None) -> bool:
        """Give the lease back if ``holder`` (with ``token``) still has it; True if it did."""
        with self.transaction() as tx:
            return tx.release_lease(source, holder, token)

    # ------------------------------------------------------------------ runs

    def start_run(self, source: str, holder: str, started_at: datetime) -> int:
        """Record that a run began; returns its id."""
        with self.transaction() as tx:
            result = tx.conn.execute(
                sa.insert(schema.runs).values(source=source, holder=holder, started_at=started_at, status="running")
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def fail_run(self, run_id: int, finished_at: datetime, status: str, summary: str) -> None:
        """Record a run that ended without committing a baseline."""
        with self.transaction() as tx:
            tx.finish_run(run_id, finished_at, status, summary)

    # ------------------------------------------------------------------ maintenance

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load.

        Right after a first load of a million rows PostgreSQL has no statistics for the
        table until autovacuum gets to it, and key lookups planned meanwhile scanned the
        whole table (a second snapshot's 10,000 updates took 30 s instead of 3).
        """
        options = {"isolation_level": "AUTOCOMMIT"} if self.dialect == "postgresql" else {}
        with self._errors("analyze the baseline"), self.engine.connect().execution_options(**options) as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("ANALYZE poller_entities")
                conn.exec_driver_sql("ANALYZE poller_outbox")
            else:
                conn.exec_driver_sql("PRAGMA optimize")

    def reset(self, source: str | None = None) -> int:
        """Forget the baseline (of one source): a new epoch starts with the next run."""
        e, s, t = schema.entities, schema.sources, schema.type_states
        with self.transaction() as tx:
            deleted = 0
            for table in (e, s, t):
                query = sa.delete(table)
                if source is not None:
                    query = query.where(table.c.source == source)
                result = tx.conn.execute(query)
                if table is e:
                    deleted = result.rowcount
            return deleted

    def prune_history(self, before: datetime, keep_after_seq: int) -> int:
        """Drop delivered notifications older than ``before`` (never past ``keep_after_seq``,
        never a parked one: it stays until it is replayed)."""
        o = schema.outbox
        parked = sa.select(schema.parked.c.seq)
        with self.transaction() as tx:
            result = tx.conn.execute(
                sa.delete(o).where(o.c.created_at < before, o.c.seq <= keep_after_seq, o.c.seq.not_in(parked))
            )
            return result.rowcount

    # ------------------------------------------------------------------ one entity (read-only, entity views)

    def find_entity(self, entity_type: str, key: str, source: str | None = None) -> list[StoredEntity]:
        """The baseline rows of one type/key (tombstones included), in one source or in every source."""
        e = schema.entities
        query = sa.select(e).where(e.c.entity_type == entity_type, e.c.key == key).order_by(e.c.source)
        if source is not None:
            query = query.where(e.c.source == source)
        else:  # every baseline has a poller_sources row: lets the planner use the primary key, not a scan
            query = query.where(e.c.source.in_(sa.select(schema.sources.c.source).scalar_subquery()))
        with self._errors("read the baseline"), self.engine.connect() as conn:
            return [stored_entity(row) for row in conn.execute(query)]

    def count_children(self, source: str, entity_type: str, key: str) -> int:
        """How many live entities of the source name this one as their parent."""
        e = schema.entities
        query = sa.select(sa.func.count()).where(
            e.c.source == source, e.c.parent_type == entity_type, e.c.parent_key == key, e.c.deleted_at.is_(None)
        )
        with self._errors("read the baseline"), self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def key_history(self, entity_type: str, key: str, source: str | None = None) -> Iterator[OutboxRow]:
        """Recorded notifications of one type/key, oldest first (one source or every source)."""
        o = schema.outbox
        query = sa.select(o).where(o.c.entity_type == entity_type, o.c.key == key).order_by(o.c.seq)
        if source is not None:
            query = query.where(o.c.source == source)
        with self._errors("read the outbox"), self.engine.connect() as conn:
            for row in conn.execute(query):
                yield OutboxRow(
                    row.seq, row.id, row.source, row.run_id, row.entity_type, row.key, row.action,
                    utc(row.created_at), decompress(row.body),  # type: ignore[arg-type]
                )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_timeout(exc: SQLAlchemyError) -> bool:
    """A lock wait or statement that ran out of time (PostgreSQL lock/statement timeout,
    SQLite's busy timeout)."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in ("55P03", "57014"):  # lock_not_available, query_canceled (statement_timeout)
        return True
    return "database is locked" in str(orig or "")


def _db_reason(exc: SQLAlchemyError) -> str:
    """A short, credential-free reason for a database error."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        name = type(orig).__name__
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        # Driver messages can name the host and user but never the password; keep them short.
        if "password" in text.lower():
            text = "authentication failed"
        return f"{name}: {text[:160]}" if text else name
    return type(exc).__name__
