"""Database engine and sessions (SQLite embedded, PostgreSQL distributed).

The table base and column helpers live in the leaf ``imagestudio.orm`` (re-exported here for
callers that want one import); ``imagestudio.models`` registers every table, and each entry point
(gateway, workers, CLI, Alembic) imports it before opening a session.
"""

from __future__ import annotations

import asyncio
import select
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, Engine, create_engine, event, update
from sqlalchemy.orm import Session, sessionmaker

from imagestudio.config import Settings, get_settings
from imagestudio.orm import Base, new_id, table_of, utcnow

__all__ = [
    "SQLITE_BEGIN_OPTION",
    "AsyncConnections",
    "Base",
    "CacheOnlySession",
    "NeedsDatabase",
    "build_engine",
    "get_engine",
    "is_postgres",
    "libpq_url",
    "new_id",
    "new_read_session",
    "new_session",
    "reset_engine",
    "session_scope",
    "sqlalchemy_url",
    "table_of",
    "update_rows",
    "utcnow",
]


def sqlalchemy_url(raw: str) -> str:
    """Pick the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if raw.startswith("postgresql://") or raw.startswith("postgres://"):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw


def _enable_wal(url: str) -> None:
    """Put the SQLite file in WAL mode once, before any pooled connection exists.

    WAL lets readers proceed while a writer commits; it is a property of the file, and switching
    needs an exclusive lock that busy connections would refuse.
    """
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:":
        return
    connection = sqlite3.connect(path, timeout=30)
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


#: Execution option (on an engine) naming how its SQLite transactions begin: IMMEDIATE or DEFERRED.
SQLITE_BEGIN_OPTION = "imagestudio_sqlite_begin"


def build_engine(settings: Settings) -> Engine:
    url = sqlalchemy_url(settings.resolved_database_url)
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _enable_wal(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy emits BEGIN itself (below); FKs are off by default in SQLite.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A transaction that may write begins IMMEDIATE, taking the write lock up front: the
            # gateway and worker threads then queue on the busy timeout. A deferred one that read
            # first fails at once with "database is locked" when it upgrades to write after another
            # writer committed (SQLite does not wait there: waiting could deadlock two upgraders).
            # A read session (new_read_session) begins DEFERRED: in WAL mode it reads a snapshot,
            # and neither takes the write lock nor waits for it.
            mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_size=settings.database_pool_size, max_overflow=10, pool_pre_ping=True)


_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None
_read_sessionmaker: sessionmaker[Session] | None = None


_engine_lock = threading.Lock()


def get_engine() -> Engine:
    global _engine, _sessionmaker, _read_sessionmaker
    if _engine is not None:
        return _engine
    with _engine_lock:  # the relay, worker threads and requests may all ask first
        if _engine is not None:
            return _engine
        engine = build_engine(get_settings())
        _sessionmaker = sessionmaker(engine, expire_on_commit=False)
        _read_sessionmaker = sessionmaker(
            engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"}), expire_on_commit=False
        )
        _engine = engine  # published last: a reader that sees it also sees the sessionmaker
    return engine


def libpq_url() -> str:
    """The process's PostgreSQL database as a plain libpq URL, for a connection of its own outside
    the pool (``LISTEN`` holds one for as long as it listens)."""
    return get_engine().url.set(drivername="postgresql").render_as_string(hide_password=False)


def reset_engine() -> None:
    """Forget the engine (tests that switch databases, forked processes)."""
    global _engine, _sessionmaker, _read_sessionmaker
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _sessionmaker = None
    _read_sessionmaker = None


def new_session() -> Session:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker()


def new_read_session() -> Session:
    """A session that only reads (GET routes, key lookups): on SQLite it never takes the write lock.

    Writing through it is a programming error, refused before anything is sent: a deferred
    transaction cannot safely become a write transaction (see ``build_engine``).
    """
    get_engine()
    assert _read_sessionmaker is not None
    session = _read_sessionmaker()
    event.listen(session, "before_flush", _refuse_write)
    event.listen(session, "do_orm_execute", _refuse_write_statement)
    return session


def _refuse_write(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read session cannot write; use new_session() or session_scope()")


def _refuse_write_statement(state: Any) -> None:
    if not state.is_select:
        raise RuntimeError("a read session cannot write; use new_session() or session_scope()")


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (workers, relay, CLI)."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def update_rows(session: Session, model: type[Base], *where: ColumnElement[bool], **values: Any) -> int:
    """``UPDATE model SET values WHERE where`` in SQL, leaving objects the session holds as they are
    (no ``synchronize_session``: callers read rows afresh); how many rows it changed."""
    result = session.execute(
        update(model).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult


def is_postgres(session: Session | None = None) -> bool:
    """Whether ``session`` (by default the process's engine; no connection is made) is on PostgreSQL."""
    bind = session.get_bind() if session is not None else get_engine()
    return bind.dialect.name == "postgresql"


class NeedsDatabase(BaseException):
    """Raised when a :class:`CacheOnlySession` is asked for a connection: the work needs the database.

    A ``BaseException``, like ``GeneratorExit``: it is control flow, and no ``except Exception``
    on the way may mistake it for a failure and carry on.
    """


class CacheOnlySession(Session):
    """A session that never reaches the database: the first statement raises :class:`NeedsDatabase`.

    The gateway's event loop runs a submission's sync steps (draft, plan, limits) with it, which
    answer from this process's caches when warm; when one would query, the submission starts over
    in a worker thread with a real session, so the loop never blocks on a sync driver.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        raise NeedsDatabase


def _ended_while_idle(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server spoke, or hung up, on an idle autocommit connection: no query is pending,
    so anything to read is a termination (its FATAL message, or the end of the stream)."""
    if conn.closed:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


class AsyncConnections:
    """Up to ``size`` async psycopg connections to the process's PostgreSQL, lent one at a time.

    Opened on first need, on the event loop that uses them (psycopg's async connections belong to
    one loop), and lent from an ``asyncio.LifoQueue`` of ``size`` places, each a connection or
    ``None`` (a place with no connection yet): the least bookkeeping a pool can have (the bench's
    floor app lends its connections the same way). Last in, first out: the connection lent back
    last is lent next, and a new one is opened only when every open one is lent out. In a FIFO
    queue the empty places came round in turn, so an idle gateway's first ``size`` submissions
    each opened a connection and ran on a cold backend (3-13 ms more each: most of P2's idle
    median, bench/README.md, issue 31, "the loop's own wake"). A connection lent back broken, or inside a
    transaction (its user began one and failed mid-way), is closed and its place freed; so is an
    idle one the server ended (a restart), found before it is lent, with no round trip. The
    connections are autocommitted: one statement is one transaction and one round trip. Only the
    gateway's hot submission statement uses them: everything else goes through SQLAlchemy's engine.
    """

    def __init__(self, url: str, *, size: int) -> None:
        self._url = url
        self._places: asyncio.LifoQueue[psycopg.AsyncConnection[Any] | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._places.put_nowait(None)
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An autocommit connection; a transaction begun on it must end before it is lent back."""
        if self._closed:
            raise RuntimeError("the async connections are closed")
        conn = await self._places.get()
        if conn is not None and _ended_while_idle(conn):
            await conn.close()
            conn = None
        if conn is None:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5)
            except BaseException:
                self._places.put_nowait(None)
                raise
        try:
            yield conn
        finally:
            if (
                self._closed
                or conn.closed
                or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
            ):
                self._places.put_nowait(None)
                await conn.close()
            else:
                self._places.put_nowait(conn)

    async def close(self) -> None:
        """Close the idle connections; those lent out close when lent back."""
        self._closed = True
        while not self._places.empty():
            conn = self._places.get_nowait()
            if conn is not None:
                await conn.close()
