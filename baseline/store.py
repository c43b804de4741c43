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
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from baseline import schema
from baseline.errors import StoreCorrupt, StoreMisconfigured, StoreUnavailable
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


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the baseline database at ``url``."""
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
    try:
        engine = sa.create_engine(parsed, **_engine_options(is_sqlite))
    except Exception as exc:  # e.g. a driver that is not installed
        raise StoreUnavailable(f"cannot use baseline {safe}: {type(exc).__name__}") from exc
    if is_sqlite:
        _configure_sqlite(engine)
    store = Store(engine, safe)
    store.migrate()
    return store


def _engine_options(is_sqlite: bool) -> dict[str, Any]:
    if is_sqlite:
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No server-side prepared statements: after a bulk first load the table has no statistics
    # yet, and a generic plan for "UPDATE ... WHERE source, type, key" chose a sequential scan
    # per row (10,000 updates took 90 s); planned with their values they use the primary key.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10, "prepare_threshold": None}}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Read-then-write transactions take the write lock up front (no upgrade deadlocks).
        readonly = conn.get_execution_options().get("poller_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Store:
    """The baseline database; see the module docstring for what it promises."""

    def __init__(self, engine: Engine, safe_url: str) -> None:
        self.engine = engine
        self.url = safe_url
        self.dialect = engine.dialect.name

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        """Bring the schema to the newest migration (run on every open; cheap when current)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self._errors("migrate"), self.engine.begin() as conn:
            if self._is_current(conn):
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _is_current(self, conn: Connection) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            current = MigrationContext.configure(conn).get_current_heads()
        except DBAPIError as exc:
            raise StoreCorrupt(f"baseline {self.url} cannot be read as a database") from exc
        tables = set(sa.inspect(conn).get_table_names())
        if not current and "poller_entities" in tables:
            raise StoreCorrupt(f"baseline {self.url} has poller tables but no migration record; refusing to touch it")
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        if current and not set(current) <= heads and not heads <= set(current):
            raise StoreCorrupt(f"baseline {self.url} was written by a newer cloud-poller (schema {current})")
        return set(current) == heads

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (StoreCorrupt, StoreUnavailable):
            raise
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"baseline {self.url}: cannot {doing} ({_db_reason(exc)})") from exc
        except OSError as exc:
            raise StoreUnavailable(f"baseline {self.url}: cannot {doing} ({exc.strerror or type(exc).__name__})") from exc

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        """One transaction: everything written through it commits together or not at all.

        A ``readonly`` transaction is always rolled back (dry runs use it).
        """
        with self._errors("write" if not readonly else "read"):
            conn = self.engine.connect().execution_options(poller_readonly=readonly)
            try:
                trans = conn.begin()
                try:
                    yield Transaction(conn, self.dialect)
                except BaseException:
                    trans.rollback()
                    raise
                if readonly:
                    trans.rollback()
                else:
                    trans.commit()
            finally:
                conn.close()

    # ------------------------------------------------------------------ reads

    def load_hashes(self, source: str, entity_type: str) -> dict[str, int]:
        """key -> signed hash of every live (not deleted) baseline entity of one type."""
        sql = "SELECT key, hash FROM poller_entities WHERE source = {p} AND entity_type = {p} AND deleted_at IS NULL"
        out: dict[str, int] = {}
        with self._errors("read the baseline"):
            for chunk in self._raw_query(sql, (source, entity_type)):
                out.update(chunk)
        return out

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
        with self.engine.connect().execution_options(poller_readonly=True) as conn:
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
                for seq, nid, source, etype, action, body in chunk:
                    yield seq, nid, source, etype, action, decompress(bytes(body))

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
        """Move a sink's cursor (and park refused records) in one transaction."""
        with self.transaction() as tx:
            tx.upsert(
                schema.sink_cursors, ["sink"],
                [{"sink": sink, "position": position, "updated_at": now, "last_error": error, "failures": failures}],
            )
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

    def acquire_lease(self, source: str, holder: str, expires_at: datetime, now: datetime) -> bool:
        """Take (or renew) the source's lease; False while another live holder has it."""
        lease = schema.leases
        host, pid = socket.gethostname(), os.getpid()
        try:
            with self.transaction() as tx:
                row = tx.conn.execute(sa.select(lease).where(lease.c.source == source)).first()
                values = {"holder": holder, "host": host, "pid": pid, "expires_at": expires_at}
                if row is None:
                    tx.conn.execute(sa.insert(lease).values(source=source, **values))
                    return True
                stale = utc(row.expires_at) <= now or (row.host == host and not _pid_alive(row.pid))  # type: ignore[operator]
                if row.holder != holder and not stale:
                    return False
                tx.conn.execute(sa.update(lease).where(lease.c.source == source).values(**values))
                return True
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise

    def lease_holder(self, source: str) -> str | None:
        """Who holds the source's lease now (None when free)."""
        lease = schema.leases
        with self._errors("read leases"), self.engine.connect() as conn:
            row = conn.execute(sa.select(lease).where(lease.c.source == source)).first()
        return None if row is None else row.holder

    def release_lease(self, source: str, holder: str) -> None:
        """Give the lease back if we hold it."""
        lease = schema.leases
        with self.transaction() as tx:
            tx.conn.execute(sa.delete(lease).where(lease.c.source == source, lease.c.holder == holder))

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
        options = {"isolation_level": "AUTOCOMMIT"} if self.dialect == "postgresql" else {"poller_readonly": True}
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
