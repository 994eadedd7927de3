"""The transactional outbox: messages written with the job, published by a relay.

The gateway adds an ``OutboxMessage`` in the same transaction as the job row, so a job is
never committed without its message nor a message sent for a job that was rolled back. The
relay publishes pending rows (RabbitMQ publisher confirms on) and marks them published; a crash
between publish and mark republishes the row, which the idempotent workers absorb.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from typing import Any

import dramatiq
from sqlalchemy import JSON, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imagestudio.db import Base, is_postgres, session_scope, utcnow
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.tracing import message_options

log = get_logger(__name__)

#: Rows published per relay transaction.
BATCH_SIZE = 100


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
        return row

    def pending_count(self, session: Session) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            )
            or 0
        )

    def publish_pending(self, broker: dramatiq.Broker, *, limit: int = BATCH_SIZE) -> int:
        """Publish up to ``limit`` pending rows; returns how many were published."""
        published = 0
        with session_scope() as session:
            stmt = (
                select(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if is_postgres(session):
                # Several gateway processes each run a relay; SKIP LOCKED shares the rows out.
                stmt = stmt.with_for_update(skip_locked=True)
            for row in session.scalars(stmt):
                message: dramatiq.Message[Any] = dramatiq.Message(
                    queue_name=row.queue_name,
                    actor_name=row.actor_name,
                    args=(),
                    kwargs=row.kwargs,
                    options=dict(row.options),
                    message_id=row.message_id,
                    message_timestamp=int(row.created_at.timestamp() * 1000),
                )
                row.attempts += 1
                try:
                    broker.enqueue(message)
                except Exception as exc:  # broker down: keep the row, retry on the next sweep
                    row.last_error = repr(exc)[:2000]
                    log.warning("outbox.publish_failed", outbox_id=row.id, error=repr(exc))
                    break
                row.published_at = utcnow()
                row.last_error = None
                published += 1
        return published


outbox_service = OutboxService()

#: Set after a commit that staged messages, so this process's relay publishes at once.
_wake = threading.Event()


def notify() -> None:
    """Wake this process's relay (call after committing a transaction that added messages)."""
    _wake.set()


class OutboxRelay:
    """A background thread publishing the outbox; ``wake()`` after a commit for low latency."""

    def __init__(self, broker: dramatiq.Broker, *, poll_seconds: float = 1.0) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._wake = _wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self._poll_seconds
        while not self._stop.is_set():
            try:
                while outbox_service.publish_pending(self._broker) == BATCH_SIZE:
                    pass
                backoff = self._poll_seconds
            except Exception as exc:  # database unreachable: back off, never die
                log.exception("outbox.relay_error", error=repr(exc))
                backoff = min(backoff * 2, 30.0)
            self._wake.wait(backoff)
            self._wake.clear()

    def drain(self, timeout: float = 10.0) -> None:
        """Publish everything pending now (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if outbox_service.publish_pending(self._broker) == 0:
                return
