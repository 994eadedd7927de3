"""The relay's lanes on PostgreSQL: a message committed while one lane waits for its batch's
confirms is published by another lane at once, and every message exactly once."""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select
from support import Embedded, wait_for

from imagestudio.db import session_scope
from imagestudio.outbox import OutboxMessage, OutboxRelay, outbox_service

pytestmark = pytest.mark.integration


class SlowConfirmBroker:
    """Holds the first message it is given (a batch waiting for RabbitMQ's confirms) until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._first = True

    def enqueue(self, message: dramatiq.Message[Any], **_: object) -> None:
        with self._lock:
            first, self._first = self._first, False
        if first:
            self.holding.set()
            assert self.release.wait(20), "the test never released the held batch"
        with self._lock:
            self.sent.append(message.kwargs["job_id"])


def stage(job_id: str) -> None:
    with session_scope() as session:
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": job_id}
        )


def published() -> dict[str, bool]:
    with session_scope() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        return {row.kwargs["job_id"]: row.published_at is not None for row in rows}


def test_a_message_committed_while_a_lane_waits_for_confirms_goes_out_on_another(pg_stack: Embedded) -> None:
    pg_stack.client.app.state.relay.stop()  # type: ignore[attr-defined]  # this test drives its own
    broker = SlowConfirmBroker()
    relay = OutboxRelay(broker, poll_seconds=0.05)  # type: ignore[arg-type]
    relay.start()
    try:
        assert relay.lanes == 3  # the default on PostgreSQL
        stage("held")
        assert broker.holding.wait(10), "no lane picked up the first message"
        stage("next")
        wait_for(lambda: broker.sent == ["next"], timeout=10, what="another lane to publish 'next'")
        assert published() == {"held": False, "next": True}
        broker.release.set()
        wait_for(lambda: published() == {"held": True, "next": True}, timeout=10, what="'held' marked")
        assert sorted(broker.sent) == ["held", "next"]  # each exactly once
    finally:
        broker.release.set()
        relay.stop()
