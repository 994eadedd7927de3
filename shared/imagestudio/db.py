"""Database engine and sessions (SQLite embedded, PostgreSQL distributed).

The table base and column helpers live in the leaf ``imagestudio.orm`` (re-exported here for
callers that want one import); ``imagestudio.models`` registers every table, and each entry point
(gateway, workers, CLI, Alembic) imports it before opening a session.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from imagestudio.config import Settings, get_settings
from imagestudio.orm import Base, new_id, table_of, utcnow

__all__ = [
    "SQLITE_BEGIN_OPTION",
    "Base",
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


def is_postgres(session: Session | None = None) -> bool:
    """Whether ``session`` (by default the process's engine; no connection is made) is on PostgreSQL."""
    bind = session.get_bind() if session is not None else get_engine()
    return bind.dialect.name == "postgresql"
