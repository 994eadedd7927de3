"""Staging messages in the caller's transaction, waking the relays after commit, and publishing a batch.

``OutboxService.add`` writes a row with the job; ``publish_pending`` (the relay's step) claims a
batch, publishes it as one confirmed batch and marks it published.
"""

from __future__ import annotations

import os
import select as io_select
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dramatiq
import psycopg
from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus
from psycopg.pq.abc import PGconn, PGresult
from sqlalchemy import bindparam, event, func, insert, select, text
from sqlalchemy.orm import Session

from imagestudio.db import AsyncConnections, is_postgres, libpq_url, session_scope
from imagestudio.orm import table_of, utcnow
from imagestudio.outbox.models import OutboxMessage
from imagestudio.outbox.notifier import CommitNotifier, LoopNotifier
from imagestudio.outbox.publishers import InFlight, outgoing, publisher_for
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.tracing import message_options

log = get_logger(__name__)

#: Rows published per relay transaction.
BATCH_SIZE = 100

#: The PostgreSQL channel notified after commits that staged outbox rows; relays in other
#: processes listen on it.
OUTBOX_CHANNEL = "imagestudio_outbox"
#: The notification, as a statement (sent by :data:`commit_notifier`, outside the staging transaction).
NOTIFY_SQL = f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"
#: ``session.info`` key: this transaction staged rows whose notification is still to be asked for.
_STAGED = "imagestudio.outbox_staged"


#: Set after a commit that staged messages, so this process's relay publishes at once.
relay_wake = threading.Event()
#: This process's sender of :data:`NOTIFY_SQL`, after commits, coalesced (see ``notifier.py``).
commit_notifier = CommitNotifier(NOTIFY_SQL, url=libpq_url)


#: The write ends of this process's relays' self-pipes (a relay polling sockets wakes on them).
wake_pipes: set[int] = set()


def notify() -> None:
    """Wake this process's relay (call after committing a transaction that added messages)."""
    relay_wake.set()
    for fd in list(wake_pipes):
        try:
            os.write(fd, b"\0")
        except (BlockingIOError, OSError):  # full (a wake is pending) or closed meanwhile
            pass


def _notify_after_commit(session: Session) -> None:
    notify()
    if session.info.pop(_STAGED, False):
        commit_notifier.request()  # the commit is done: the NOTIFY it asks for begins after it


def _forget_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)


def _wake_after_commit(session: Session) -> None:
    """Wake the relays once the caller's transaction commits (never before, nor on rollback).

    This process's relay by its event; on PostgreSQL the others by a ``NOTIFY`` the notifier
    sends after the commit, on its own connection: inside the transaction it would serialise
    every notifying commit of the database (``notifier.py``).
    """
    if not event.contains(session, "after_commit", _notify_after_commit):
        event.listen(session, "after_commit", _notify_after_commit)
        event.listen(session, "after_rollback", _forget_staged)
    if is_postgres(session):
        session.info[_STAGED] = True


#: What a relay reads of each row of its batch (typed: JSON and timestamps come back decoded).
_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.message_id,
    OutboxMessage.queue_name,
    OutboxMessage.actor_name,
    OutboxMessage.kwargs,
    OutboxMessage.options,
    OutboxMessage.created_at,
)
_COLUMN_LIST = ", ".join(column.key for column in _COLUMNS)
#: SQLite: a relay's batch, the oldest pending rows (one lane, no row locks).
_PENDING = text(
    f"SELECT {_COLUMN_LIST} FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit"
).columns(*_COLUMNS)
#: The batch published (SQLite), or its failure recorded (the rows stay pending).
_PUBLISHED = text(
    "UPDATE outbox SET published_at = :now, attempts = attempts + 1, last_error = NULL WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True), bindparam("now", type_=OutboxMessage.published_at.type))
_FAILED = text("UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
#: PostgreSQL: a relay's batch locked (``SKIP LOCKED`` shares rows out between relays) and marked
#: published in one statement, committed only once RabbitMQ confirmed the batch. Each row comes
#: back as what the publisher sends, its Dramatiq body encoded by the server (the fields of
#: ``Message.asdict``): no JSON decoded and encoded again in the relay.
_CLAIM_PG = """
UPDATE outbox SET published_at = statement_timestamp(), attempts = attempts + 1, last_error = NULL
WHERE id IN (
    SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
RETURNING id, queue_name, (options ->> 'broker_priority')::int, json_build_object(
    'queue_name', queue_name, 'actor_name', actor_name, 'args', json_build_array(),
    'kwargs', kwargs, 'options', options, 'message_id', message_id,
    'message_timestamp', floor(extract(epoch FROM created_at) * 1000)::bigint
)::text
"""
#: PostgreSQL, the pipelined relay: the claim as a named statement prepared once per connection
#: and run through libpq directly (psycopg's per-execute bookkeeping was a fifth of the relay's
#: CPU): ``EXECUTE`` in a simple query, so a ``BEGIN`` rides in the same round trip.
_CLAIM_NAME = b"imagestudio_outbox_claim"
_PREPARE_CLAIM = b"PREPARE " + _CLAIM_NAME + b"(int) AS " + _CLAIM_PG.replace("%s", "$1").encode()
#: The statement is not prepared on this connection (a new one, or the server restarted).
_UNDEFINED_STATEMENT = b"26000"
#: PostgreSQL: a failed batch's attempt and error, its published mark taken back by a rollback.
_FAILED_PG = "UPDATE outbox SET attempts = attempts + 1, last_error = %s WHERE id = ANY(%s)"


class OutboxService:
    def add(
        self,
        session: Session,
        *,
        queue_name: str,
        actor_name: str,
        kwargs: dict[str, Any],
        options: dict[str, Any] | None = None,
    ) -> OutboxMessage:
        """Stage a message in the caller's transaction; the relay sends it after commit."""
        # The trace context rides in the options: the worker's span continues the request's trace.
        traced = message_options(
            options, queue_name=queue_name, actor_name=actor_name, job_id=kwargs.get("job_id")
        )
        row = OutboxMessage(queue_name=queue_name, actor_name=actor_name, kwargs=kwargs, options=traced)
        session.add(row)
        _wake_after_commit(session)
        return row

    def add_many(
        self, session: Session, messages: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Stage (queue, actor, kwargs, options) messages with one INSERT, without the ORM's unit of work."""
        if not messages:
            return
        session.execute(insert(table_of(OutboxMessage)), self.rows(messages))
        self.wake_after_commit(session)

    def rows(
        self, messages: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Outbox row values for (queue, actor, kwargs, options) messages, trace context included."""
        now = utcnow()
        return [
            {
                "message_id": str(uuid.uuid4()),
                "queue_name": queue_name,
                "actor_name": actor_name,
                "kwargs": kwargs,
                "options": message_options(
                    options, queue_name=queue_name, actor_name=actor_name, job_id=kwargs.get("job_id")
                ),
                "created_at": now,
                "attempts": 0,
            }
            for queue_name, actor_name, kwargs, options in messages
        ]

    def wake_after_commit(self, session: Session) -> None:
        """Wake the relays once the caller's transaction commits (rows staged by other means)."""
        _wake_after_commit(session)

    def loop_notifier(self) -> LoopNotifier:
        """A sender of :data:`NOTIFY_SQL` for commits made on the calling event loop (its own
        connection, opened at the first send); :meth:`LoopNotifier.close` it with the loop."""
        return LoopNotifier(NOTIFY_SQL, AsyncConnections(libpq_url(), size=1), fallback=commit_notifier)

    def committed_on_loop(self, notifier: LoopNotifier) -> None:
        """Wake the relays after the caller committed rows on an async PostgreSQL connection (the
        gateway's submission on its event loop): this process's relay by its event, the others by
        ``notifier``'s ``NOTIFY``, sent from the loop, which begins after this call and so after
        the commit."""
        notify()
        notifier.request()

    def pending_count(self, session: Session) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            )
            or 0
        )

    def oldest_pending(self, session: Session) -> datetime | None:
        """When the oldest message still waiting for the relay was staged (None: all published)."""
        return session.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.published_at.is_(None))
        )

    def publish_pending(
        self,
        broker: dramatiq.Broker,
        *,
        limit: int = BATCH_SIZE,
        publisher: Any = None,
        claimed: Callable[[], None] | None = None,
    ) -> int:
        """Publish up to ``limit`` pending rows as one confirmed batch; returns how many were published.

        A batch that fails (broker down, a message returned or nacked) stays pending whole and is
        published again on the next sweep: workers absorb the repeats of messages that did arrive.
        ``publisher``: the caller's own (a relay lane's connection); by default the process's one.
        ``claimed`` is called once the batch's rows are locked, before they are published.
        On PostgreSQL a one-off connection (a relay lane keeps its own: :meth:`publish_batch`).
        """
        publisher = publisher or publisher_for(broker)
        if is_postgres():
            with psycopg.connect(libpq_url(), connect_timeout=10) as conn:
                return self.publish_batch(conn, publisher, limit=limit, claimed=claimed)
        with session_scope() as session:
            connection = session.connection()  # Core statements built once: no ORM per batch
            rows = list(connection.execute(_PENDING, {"limit": limit}))
            if not rows:
                return 0
            messages = [
                outgoing(
                    dramatiq.Message(
                        queue_name=row.queue_name,
                        actor_name=row.actor_name,
                        args=(),
                        kwargs=row.kwargs,
                        options=dict(row.options),
                        message_id=row.message_id,
                        message_timestamp=int(row.created_at.timestamp() * 1000),
                    )
                )
                for row in rows
            ]
            ids = [row.id for row in rows]
            if claimed is not None:
                claimed()
            try:
                publisher.publish(messages)
            except Exception as exc:  # broker down: keep the rows, retry on the next sweep
                log.warning("outbox.publish_failed", outbox_ids=ids[:10], count=len(ids), error=repr(exc))
                connection.execute(_FAILED, {"ids": ids, "error": repr(exc)[:2000]})
                return 0
            connection.execute(_PUBLISHED, {"ids": ids, "now": utcnow()})
        return len(rows)

    def publish_batch(
        self,
        connection: psycopg.Connection[Any],
        publisher: Any,
        *,
        limit: int = BATCH_SIZE,
        claimed: Callable[[], None] | None = None,
    ) -> int:
        """PostgreSQL: claim up to ``limit`` rows on ``connection`` (a relay lane's own, not in a
        transaction), publish them as one confirmed batch, commit their mark; how many were sent.

        Two round trips per batch (the claim, the commit) on a prepared statement, no ORM. A
        failed publish rolls the mark back and records the attempt: the rows are sent again, whole,
        on the next sweep (the repeats of those that did arrive carry their message ids).
        """
        rows = connection.execute(_CLAIM_PG, (limit,), prepare=True).fetchall()
        if not rows:
            connection.rollback()  # ends the claim's transaction
            return 0
        rows.sort()  # by id: RETURNING follows no order
        if claimed is not None:
            claimed()
        try:
            publisher.publish([row[1:] for row in rows])
        except Exception as exc:  # broker down: keep the rows, retry on the next sweep
            ids = [row[0] for row in rows]
            log.warning("outbox.publish_failed", outbox_ids=ids[:10], count=len(ids), error=repr(exc))
            connection.rollback()  # the rows' published mark goes; they stay pending
            connection.execute(_FAILED_PG, (repr(exc)[:2000], ids))
            connection.commit()
            return 0
        connection.commit()
        return len(rows)

    def send_batch(
        self,
        connection: psycopg.Connection[Any],
        publisher: Any,
        *,
        limit: int = BATCH_SIZE,
        keep_open: bool = False,
    ) -> tuple[list[Any], InFlight | None]:
        """PostgreSQL, pipelined: claim up to ``limit`` rows on ``connection`` and send them
        without waiting for their confirms; the rows claimed and the batch in flight, whose
        transaction (its rows locked and marked, uncommitted) :meth:`settle_batch` ends.

        The claim's rows are ``(id, queue, priority, body)``. A send that fails at once records
        the attempt (the rows stay pending) and returns no batch. ``keep_open`` (a busy relay):
        an empty claim's transaction stays open for the next claim, which then needs no
        ``BEGIN`` of its own (it holds no lock and, in READ COMMITTED, no snapshot between
        statements)."""
        rows = _claim_libpq(connection.pgconn, limit)
        if not rows:
            if not keep_open:
                connection.rollback()  # ends the claim's transaction
            return rows, None
        try:
            return rows, publisher.send([row[1:] for row in rows])
        except Exception as exc:  # broker down: keep the rows, retry on the next sweep
            self._record_failure(connection, rows, repr(exc))
            return rows, None

    def settle_batch(
        self,
        connection: psycopg.Connection[Any],
        rows: Sequence[Any],
        batch: InFlight,
        *,
        chain: bool = False,
    ) -> int:
        """End a settled batch's transaction: commit its rows' mark when every message was
        confirmed, else roll it back and record the attempt; how many rows were marked published.

        ``chain`` (a busy relay): the commit also begins the connection's next transaction, in
        the same round trip, for its next claim."""
        if batch.error is None:
            _command(connection.pgconn, b"COMMIT; BEGIN" if chain else b"COMMIT")
            return len(rows)
        self._record_failure(connection, rows, batch.error)
        return 0

    def send_commit(self, connection: psycopg.Connection[Any], *, chain: bool = False) -> int:
        """Send a confirmed batch's ``COMMIT`` (with ``chain``, and the next ``BEGIN``) without
        waiting for it; the socket to poll for :meth:`commit_done`."""
        pgconn = connection.pgconn
        pgconn.send_query(b"COMMIT; BEGIN" if chain else b"COMMIT")
        while pgconn.flush():  # a few bytes: written at once unless the socket is full
            io_select.select([], [pgconn.socket], [], 1.0)
        return pgconn.socket

    def commit_done(self, connection: psycopg.Connection[Any], *, wait: bool = False) -> bool:
        """Whether the ``COMMIT`` sent by :meth:`send_commit` has completed (reading what arrived;
        with ``wait``, until it has); raises the server's error when it failed."""
        pgconn = connection.pgconn
        pgconn.consume_input()
        deadline = time.monotonic() + 10.0
        while wait and pgconn.is_busy():
            if time.monotonic() > deadline:
                raise psycopg.OperationalError("no answer to the COMMIT in 10 s")
            io_select.select([pgconn.socket], [], [], 1.0)
            pgconn.consume_input()
        if pgconn.is_busy():
            return False
        error = None
        while (result := pgconn.get_result()) is not None:
            if result.status not in (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK) and error is None:
                error = psycopg.errors.error_from_result(result, encoding="utf-8")
        if error is not None:
            raise error
        return True

    def _record_failure(self, connection: psycopg.Connection[Any], rows: Sequence[Any], error: str) -> None:
        ids = [row[0] for row in rows]
        log.warning("outbox.publish_failed", outbox_ids=ids[:10], count=len(ids), error=error)
        connection.rollback()  # the rows' published mark goes; they stay pending
        connection.execute(_FAILED_PG, (error[:2000], ids))
        connection.commit()


def _command(pgconn: PGconn, sql: bytes) -> PGresult:
    """``sql`` run on ``pgconn`` (a simple query); raises the server's error as psycopg would."""
    result = pgconn.exec_(sql)
    if result.status not in (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK):
        raise psycopg.errors.error_from_result(result, encoding="utf-8")
    return result


def _claim_libpq(pgconn: PGconn, limit: int) -> list[Any]:
    """The claim on ``pgconn`` (in the open transaction, or one begun in the same round trip):
    its rows as ``(id, queue, priority, body)``, sorted by id, the body as the bytes the server
    built (handed to pika as they are)."""
    execute = b"EXECUTE %s(%d)" % (_CLAIM_NAME, limit)
    for attempt in range(2):
        sql = b"BEGIN; " + execute if pgconn.transaction_status == TransactionStatus.IDLE else execute
        result = pgconn.exec_(sql)
        if result.status == ExecStatus.TUPLES_OK:
            break
        if attempt or result.error_field(DiagnosticField.SQLSTATE) != _UNDEFINED_STATEMENT:
            raise psycopg.errors.error_from_result(result, encoding="utf-8")
        if pgconn.transaction_status != TransactionStatus.IDLE:
            _command(pgconn, b"ROLLBACK")  # the failed EXECUTE aborted it
        _command(pgconn, _PREPARE_CLAIM)
    value = result.get_value
    rows = []
    for n in range(result.ntuples):
        priority = value(n, 2)
        rows.append(
            (
                int(value(n, 0)),  # type: ignore[arg-type]
                value(n, 1).decode(),  # type: ignore[union-attr]
                None if priority is None else int(priority),
                value(n, 3),
            )
        )
    rows.sort()  # by id: RETURNING follows no order
    return rows


outbox_service = OutboxService()
