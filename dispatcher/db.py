"""Engine, schema and the unit of work.

Services never commit: the caller (a request, a job, a CLI command) owns the unit of work,
which commits once and only then runs what was deferred to after the commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

AFTER_COMMIT_KEY = "after_commit"


def _system_time() -> datetime:
    return datetime.now(UTC)


_time_source: Callable[[], datetime] = _system_time


def utcnow() -> datetime:
    """The time, aware UTC: the system's, or the replay's inside `clocked`."""
    return _time_source()


@contextmanager
def clocked(source: Callable[[], datetime]) -> Iterator[None]:
    """Run the domain on another time source (the simulator's virtual clock) for the block.

    One process, one time: a replay owns its process while it runs.
    """
    global _time_source
    previous, _time_source = _time_source, source
    try:
        yield
    finally:
        _time_source = previous


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CACHE_KIB = 64 * 1024
SQLITE_ANALYSIS_ROWS = 400
SQLITE_BUSY_S = 30
_HOLDS_WRITER = "holds_writer_lock"
# An execution option of the engine `read_only` hands out, and the mark of a pooled connection
# whose SQLite `query_only` is on (set for the reading transaction, cleared when given back).
READ_ONLY = "dispatcher_read_only"
_QUERY_ONLY = "query_only"


def _sqlite_pragmas(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot upgrade a reader to a writer
    # safely; take the write lock at BEGIN so concurrent units of work queue instead of failing.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A service's database outgrows SQLite's 2 MB page cache within months; read through a
        # memory map and keep more pages, so that lookups in a long history's indexes stay
        # memory reads (address space and cache pages are taken only as pages are read).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    # Threads of one process queue for the write lock on a lock of their own, handed over at
    # once: SQLite's busy handler makes a waiting connection sleep in steps of up to 100 ms,
    # so under contention (the courier's threads, the API's) most of the time went to sleep.
    # Other processes still meet at SQLite's own lock (busy_timeout).
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            # WAL gives a reader its own snapshot beside the writer: no queue to wait in.
            conn.exec_driver_sql("PRAGMA query_only=ON")
            conn.info[_QUERY_ONLY] = True
            conn.exec_driver_sql("BEGIN")
            return
        if not writer.acquire(timeout=SQLITE_BUSY_S):
            raise TimeoutError(f"no write lock on the database within {SQLITE_BUSY_S} s")
        conn.info[_HOLDS_WRITER] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_WRITER, False):
            writer.release()

    @event.listens_for(engine, "commit")
    def _committed(conn: Any) -> None:
        _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        _release(conn.info)

    # A connection given back with its transaction still open (the pool rolls it back).
    @event.listens_for(engine.pool, "checkin")
    def _checked_in(dbapi: Any, record: Any) -> None:
        _release(record.info)
        if record.info.pop(_QUERY_ONLY, False) and dbapi is not None:
            dbapi.execute("PRAGMA query_only=OFF")


def json_text(value: Any) -> str:
    """JSON columns' text: orjson, several times faster than the standard library on the
    decisions' explanations (tens of kilobytes in a capital district); keys that are not
    strings become strings, as the standard library would make them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_text)


class SchemaNotReady(RuntimeError):
    """The production database has not been migrated to the code's schema."""


def create_schema(engine: Engine) -> None:
    """Make the schema ready: created from the models on SQLite, checked elsewhere.

    The embedded default creates its tables directly and stamps them at the newest migration
    (a file stamped at an older one is migrated forward first);
    PostgreSQL is migrated by `dispatcher db upgrade` before the service starts, and a service
    refuses to run against a schema of another revision.
    """
    from dispatcher import migrations, models  # noqa: F401  (registers the tables)

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            found = migrations.current(conn)
        if found is not None and found != migrations.head():
            # A file made by an older version: bring it forward the way PostgreSQL is.
            migrations.upgrade(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            metadata.create_all(conn)
            if found is None:
                migrations.stamp_head(conn)
        refresh_statistics(engine)
        return
    with engine.connect() as conn:
        found = migrations.current(conn)
    if found != migrations.head():
        raise SchemaNotReady(
            f"database schema is at {found or 'nothing'}, the code needs {migrations.head()}: "
            "run `dispatcher db upgrade`"
        )


def refresh_statistics(engine: Engine) -> None:
    """Give the query planner fresh statistics of the tables (after a bulk load, at start).

    Without them SQLite cannot tell a selective index (a lawyer's) from one that is not (a
    status's) and may walk the nation's expiries for one firm's. On SQLite a sampled analysis
    (a few hundred rows per index) takes milliseconds on a database of gigabytes; PostgreSQL's
    autovacuum does the same in time, and this does it now.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_ROWS}")
        conn.exec_driver_sql("ANALYZE")


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(action)


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads: on SQLite it reads a snapshot without queueing behind
    the writers (every other transaction takes the write lock at its start), and any write in
    it fails (`query_only`); elsewhere it is an ordinary unit of work."""
    with unit_of_work(engine.execution_options(**{READ_ONLY: True})) as session:
        yield session


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error, then run after-commit actions."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        # Taken off the session either way; they run only when the commit above succeeded.
        actions: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT_KEY, [])
        session.close()
    for action in actions:
        action()
