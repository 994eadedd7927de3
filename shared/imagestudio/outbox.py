"""The transactional outbox: messages written with the job, published by a relay.

The gateway adds an ``OutboxMessage`` in the same transaction as the job row, so a job is
never committed without its message nor a message sent for a job that was rolled back. The
relay publishes pending rows (RabbitMQ publisher confirms on) and marks them published; a crash
between publish and mark republishes the row, which the idempotent workers absorb.

A commit that staged rows wakes the relay at once: this process's relay through an in-process
event, a relay in another process (``imagestudio relay``, which ``imagestudio up`` starts on
PostgreSQL) through PostgreSQL's ``NOTIFY`` on :data:`OUTBOX_CHANNEL`, which the server delivers
at commit and never on rollback.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dramatiq
import psycopg
from sqlalchemy import JSON, Index, Integer, String, Text, bindparam, event, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagestudio.broker import amqp_url
from imagestudio.config import get_settings
from imagestudio.db import is_postgres, libpq_url, session_scope
from imagestudio.orm import Base, table_of, utcnow
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.tracing import message_options

log = get_logger(__name__)

#: Rows published per relay transaction.
BATCH_SIZE = 100

#: The PostgreSQL channel a transaction that staged outbox rows notifies; relays in other
#: processes listen on it.
OUTBOX_CHANNEL = "imagestudio_outbox"
#: The notification, as a statement (the submission statement carries its own).
NOTIFY_SQL = f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"
_NOTIFY = text(NOTIFY_SQL)
#: ``session.info`` key: this transaction staged rows whose notification is still to be sent.
_STAGED = "imagestudio.outbox_staged"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Dramatiq message id, fixed at write time so a republished row is the same message.
    message_id: Mapped[str] = mapped_column(String(36), default=lambda: str(uuid.uuid4()))
    queue_name: Mapped[str] = mapped_column(String(50))
    actor_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


def _notify_before_commit(session: Session) -> None:
    if session.info.pop(_STAGED, False):
        session.execute(_NOTIFY)  # delivered by PostgreSQL only if this commit succeeds


def _notify_after_commit(session: Session) -> None:
    notify()


def _forget_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)


def _wake_after_commit(session: Session, *, notified: bool = False) -> None:
    """Wake the relays once the caller's transaction commits (never before, nor on rollback).

    This process's relay by its event; on PostgreSQL the others by a ``NOTIFY`` sent just before
    the commit, unless the caller's own statement already sent it (``notified``).
    """
    if not event.contains(session, "after_commit", _notify_after_commit):
        event.listen(session, "after_commit", _notify_after_commit)
        event.listen(session, "before_commit", _notify_before_commit)
        event.listen(session, "after_rollback", _forget_staged)
    if not notified and is_postgres(session):
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
#: The oldest pending rows, in order (a relay's batch).
_OLDEST_PENDING = "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit"
#: SQLite: a relay's batch, the oldest pending rows (one lane, no row locks).
_PENDING = text(f"SELECT {_COLUMN_LIST} {_OLDEST_PENDING}").columns(*_COLUMNS)
#: PostgreSQL: a relay's batch locked and marked published at once (committed after the confirms).
_CLAIM = (
    text(
        "UPDATE outbox SET published_at = :now, attempts = attempts + 1, last_error = NULL"
        f" WHERE id IN (SELECT id {_OLDEST_PENDING} FOR UPDATE SKIP LOCKED) RETURNING {_COLUMN_LIST}"
    )
    .bindparams(bindparam("now", type_=OutboxMessage.published_at.type))
    .columns(*_COLUMNS)
)
#: The batch published (SQLite), or its failure recorded (the rows stay pending).
_PUBLISHED = text(
    "UPDATE outbox SET published_at = :now, attempts = attempts + 1, last_error = NULL WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True), bindparam("now", type_=OutboxMessage.published_at.type))
_FAILED = text("UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


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

    def add_many(self, session: Session, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Stage (queue, actor, kwargs) messages with one INSERT, without the ORM's unit of work."""
        if not messages:
            return
        session.execute(insert(table_of(OutboxMessage)), self.rows(messages))
        self.wake_after_commit(session)

    def rows(self, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Outbox row values for (queue, actor, kwargs) messages, trace context included."""
        now = utcnow()
        return [
            {
                "message_id": str(uuid.uuid4()),
                "queue_name": queue_name,
                "actor_name": actor_name,
                "kwargs": kwargs,
                "options": message_options(
                    None, queue_name=queue_name, actor_name=actor_name, job_id=kwargs.get("job_id")
                ),
                "created_at": now,
                "attempts": 0,
            }
            for queue_name, actor_name, kwargs in messages
        ]

    def wake_after_commit(self, session: Session, *, notified: bool = False) -> None:
        """Wake the relays once the caller's transaction commits (rows staged by other means);
        ``notified``: the caller's statement ran :data:`NOTIFY_SQL` itself."""
        _wake_after_commit(session, notified=notified)

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
        """
        with session_scope() as session:
            connection = session.connection()  # Core statements built once: no ORM per batch
            postgres = is_postgres(session)
            if postgres:
                # Locked (SKIP LOCKED shares the rows out between relays) and marked published in
                # one statement; the mark commits only once RabbitMQ confirmed the batch.
                claimed_rows = connection.execute(_CLAIM, {"limit": limit, "now": utcnow()}).all()
                rows = sorted(claimed_rows, key=lambda row: row.id)
            else:
                rows = list(connection.execute(_PENDING, {"limit": limit}))
            if not rows:
                return 0
            messages: list[dramatiq.Message[Any]] = [
                dramatiq.Message(
                    queue_name=row.queue_name,
                    actor_name=row.actor_name,
                    args=(),
                    kwargs=row.kwargs,
                    options=dict(row.options),
                    message_id=row.message_id,
                    message_timestamp=int(row.created_at.timestamp() * 1000),
                )
                for row in rows
            ]
            ids = [row.id for row in rows]
            if claimed is not None:
                claimed()
            try:
                (publisher or _publisher_for(broker)).publish(messages)
            except Exception as exc:  # broker down: keep the rows, retry on the next sweep
                log.warning("outbox.publish_failed", outbox_ids=ids[:10], count=len(ids), error=repr(exc))
                if postgres:
                    session.rollback()  # the rows' published mark goes; they stay pending
                session.connection().execute(_FAILED, {"ids": ids, "error": repr(exc)[:2000]})
                return 0
            if not postgres:
                connection.execute(_PUBLISHED, {"ids": ids, "now": utcnow()})
        return len(rows)


class _EnqueuePublisher:
    """Any Dramatiq broker (the in-process one): enqueue one message at a time."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def connect(self) -> None:
        """Nothing to open: the broker is in-process."""

    def publish(self, messages: Sequence[dramatiq.Message[Any]]) -> None:
        for message in messages:
            self._broker.enqueue(message)

    def close(self) -> None:
        """Nothing to close."""


def _settled() -> None:
    """The zero-delay timer's callback: the timer firing is what matters."""


class ConfirmedBatchPublisher:
    """RabbitMQ: publish a batch, then wait once for all its publisher confirms.

    Dramatiq's broker waits for each message's confirm before sending the next (a round trip
    each); the relay owns this connection and sends the whole batch before it waits. Messages are
    published ``mandatory``: one the broker cannot route is returned, and the batch fails.
    """

    def __init__(self, broker: Any, url: str, *, confirm_timeout_seconds: float = 5.0) -> None:
        self._broker = broker
        self._url = url
        self._timeout = confirm_timeout_seconds
        self._connection: Any = None
        self._channel: Any = None
        #: Delivery tags published on this channel (1, 2, ... since confirm.select) not yet confirmed.
        self._unconfirmed: set[int] = set()
        self._next_tag = 1
        self._nacked = 0
        self._returned: list[str] = []
        self._closed: Exception | None = None

    def connect(self) -> None:
        """Open the connection and its confirm-mode channel now (``publish`` reopens them when lost)."""
        self._connect()

    def _connect(self) -> Any:
        import pika

        if self._channel is not None and self._channel.is_open and self._connection.is_open:
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = self._connection.channel()
        selected: list[bool] = []
        self._unconfirmed, self._next_tag, self._nacked = set(), 1, 0
        self._closed = None
        # The blocking channel's own confirm mode waits per publish; the underlying channel's
        # callback tells us each confirm. Tags are tracked one by one: with several queues in a
        # batch RabbitMQ may confirm a later tag before a ``multiple`` covering earlier ones.
        channel._impl.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _: selected.append(True)
        )
        channel._impl.add_on_return_callback(self._on_return)
        channel._impl.add_on_close_callback(self._on_close)
        self._wait(lambda: bool(selected))
        self._channel = channel
        return channel

    def _on_confirm(self, frame: Any) -> None:
        import pika

        method = frame.method
        if method.multiple:
            # delivery_tag 0 with multiple: every outstanding tag.
            settled = {t for t in self._unconfirmed if method.delivery_tag == 0 or t <= method.delivery_tag}
        else:
            settled = {method.delivery_tag} & self._unconfirmed
        self._unconfirmed -= settled
        if isinstance(method, pika.spec.Basic.Nack):
            self._nacked += len(settled)
        if settled and not self._unconfirmed:
            # This callback runs inside ``process_data_events``, which returns only on its time
            # limit or on an event of its own: a zero-delay timer is one, so ``_wait`` sees the
            # batch settled now rather than at the end of its 50 ms slice (every batch's wait).
            self._connection.call_later(0, _settled)

    def _on_close(self, _channel: Any, reason: Exception) -> None:
        self._closed = reason

    def _on_return(self, _channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        self._returned.append(method.routing_key)

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._timeout
        while not done():
            if self._closed is not None:  # the broker closed the channel: no confirm will come
                raise RuntimeError(f"RabbitMQ closed the publishing channel: {self._closed!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("RabbitMQ did not confirm the batch in time")
            self._connection.process_data_events(time_limit=0.05)

    def publish(self, messages: Sequence[dramatiq.Message[Any]]) -> None:
        import pika
        from dramatiq.common import q_name

        for queue in {q_name(m.queue_name) for m in messages}:
            self._broker.declare_queue(queue, ensure=True)
        try:
            channel = self._connect()
            self._returned.clear()
            for message in messages:
                channel._impl.basic_publish(
                    exchange="",
                    routing_key=message.queue_name,
                    body=message.encode(),
                    properties=pika.BasicProperties(
                        delivery_mode=2, priority=message.options.get("broker_priority")
                    ),
                    mandatory=True,
                )
                self._unconfirmed.add(self._next_tag)
                self._next_tag += 1
            nacked_before = self._nacked
            self._wait(lambda: not self._unconfirmed)
        except Exception:
            self.close()
            raise
        if self._returned:
            for queue in self._returned:  # declared again before the next batch
                self._broker.queues_pending.add(q_name(queue))
            raise RuntimeError(f"RabbitMQ returned messages for {sorted(set(self._returned))}")
        if self._nacked > nacked_before:
            raise RuntimeError("RabbitMQ refused (nacked) messages of the batch")

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a broken connection: nothing more to do
                pass


_publishers: dict[int, Any] = {}


def new_publisher(broker: dramatiq.Broker) -> ConfirmedBatchPublisher | _EnqueuePublisher:
    """A publisher for ``broker``: batched confirms on RabbitMQ (a connection of its own), plain
    enqueue otherwise."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    if isinstance(broker, RabbitmqBroker):
        return ConfirmedBatchPublisher(broker, amqp_url(get_settings()))
    return _EnqueuePublisher(broker)


def _publisher_for(broker: dramatiq.Broker) -> Any:
    """The process's shared publisher for ``broker`` (``drain`` and one-off sweeps)."""
    publisher = _publishers.get(id(broker))
    if publisher is None:
        publisher = new_publisher(broker)
        _publishers.clear()  # one broker per process (tests swap it): forget the old one
        _publishers[id(broker)] = publisher
    return publisher


outbox_service = OutboxService()

#: Set after a commit that staged messages, so this process's relay publishes at once.
_wake = threading.Event()


def notify() -> None:
    """Wake this process's relay (call after committing a transaction that added messages)."""
    _wake.set()


class OutboxRelay:
    """Background threads publishing the outbox; ``wake()`` after a commit for low latency.

    On PostgreSQL it runs ``lanes`` threads, each with its own broker connection: RabbitMQ
    confirms a persistent message only once it is on disk (tens of milliseconds), and one thread
    waiting for a batch's confirms would hold every message committed meanwhile until then. One
    lane at a time leads: it waits for a wake, locks a batch (``FOR UPDATE SKIP LOCKED``, as
    several gateways' relays share rows) and hands the lead on before publishing it, so a message
    committed while that lane waits for confirms goes out on the next, and a wake costs one query,
    not one per lane. SQLite takes no row locks and its broker is in-process (no confirms to wait
    for): one lane there.

    ``listen``: a relay in its own process (``imagestudio relay``) also wakes on PostgreSQL's
    notifications of :data:`OUTBOX_CHANNEL`, which every commit that staged rows sends.
    """

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        poll_seconds: float = 1.0,
        lanes: int | None = None,
        listen: bool = False,
    ) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._lanes = lanes
        self._listen = listen
        self._wake = _wake
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: threading.Thread | None = None
        #: Held by the lane that waits for the next wake and takes the next batch.
        self._lead = threading.Lock()

    def wake(self) -> None:
        self._wake.set()

    @property
    def lanes(self) -> int:
        """Threads publishing (0 before ``start``)."""
        return len(self._threads)

    def start(self) -> None:
        lanes = self._lanes
        if lanes is None:
            lanes = get_settings().outbox_relay_lanes if is_postgres() else 1
        self._threads = [
            threading.Thread(target=self._run, name=f"outbox-relay-{lane}", daemon=True)
            for lane in range(lanes)
        ]
        for thread in self._threads:
            thread.start()
        if self._listen and is_postgres():
            self._listener = threading.Thread(target=self._listen_loop, name="outbox-listen", daemon=True)
            self._listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in [*self._threads, *([self._listener] if self._listener else [])]:
            thread.join(timeout)

    @property
    def listening(self) -> bool:
        """Whether the relay wakes on PostgreSQL's notifications (``listen`` on PostgreSQL)."""
        return self._listener is not None

    def _listen_loop(self) -> None:
        """Wake the relay on each notification of :data:`OUTBOX_CHANNEL`; reconnect when the server
        goes away (meanwhile the relay still sweeps every ``poll_seconds``)."""
        url = libpq_url()
        backoff = self._poll_seconds
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._wake.set()  # rows committed while nobody listened
                    backoff = self._poll_seconds
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake.set()
            except psycopg.Error as exc:  # server restarting: the sweeps carry on meanwhile
                log.warning("outbox.listen_failed", error=repr(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _run(self) -> None:
        publisher = new_publisher(self._broker)
        try:  # now, not on this lane's first batch (whose message would wait for the handshake)
            publisher.connect()
        except Exception as exc:  # broker down: the first batch connects (and retries) later
            log.warning("outbox.relay_connect_failed", error=repr(exc))
        backoff = 0.0  # a first sweep at once: rows may be waiting from before the start
        try:
            while not self._stop.is_set():
                backoff = self._lead_one_batch(publisher, backoff)
        finally:
            publisher.close()

    def _lead_one_batch(
        self, publisher: ConfirmedBatchPublisher | _EnqueuePublisher, backoff: float
    ) -> float:
        """Take the lead, wait for a wake (or ``backoff``), publish one batch; the next backoff."""
        self._lead.acquire()
        leading = True

        def hand_on() -> None:
            nonlocal leading
            if leading:
                leading = False
                self._lead.release()

        try:
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                self._wake.set()  # the next lane sees the stop at once too
                return backoff
            if (
                outbox_service.publish_pending(self._broker, publisher=publisher, claimed=hand_on)
                == BATCH_SIZE
            ):
                self._wake.set()  # a full batch: more may wait, the next lane sweeps at once
            return self._poll_seconds
        except Exception as exc:  # database unreachable: back off, never die
            log.exception("outbox.relay_error", error=repr(exc))
            return min(max(backoff, self._poll_seconds) * 2, 30.0)
        finally:
            hand_on()

    def drain(self, timeout: float = 10.0) -> None:
        """Publish everything pending now (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if outbox_service.publish_pending(self._broker) == 0:
                return
