"""The relay's lanes on PostgreSQL: a message committed while one lane waits for its batch's
confirms is published by another lane at once, and every message exactly once."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select
from support import Embedded, wait_for

from imagestudio.db import session_scope
from imagestudio.outbox import OutboxMessage, OutboxRelay, outbox_service

pytestmark = pytest.mark.integration


class SlowConfirmBroker:
    """Holds the message of job ``held`` (a batch waiting for RabbitMQ's confirms) until released;
    records the jobs it is given (other tests' rows in the same database may pass through too)."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.sent: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def enqueue(self, message: dramatiq.Message[Any], **_: object) -> None:
        job_id = str(message.kwargs.get("job_id"))
        if job_id == self.held:
            self.holding.set()
            assert self.release.wait(20), "the test never released the held batch"
        with self._lock:
            self.sent.append(job_id)


def stage(job_id: str) -> None:
    with session_scope() as session:
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": job_id}
        )


def published(*job_ids: str) -> dict[str, bool]:
    with session_scope() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        return {
            row.kwargs["job_id"]: row.published_at is not None
            for row in rows
            if row.kwargs.get("job_id") in job_ids
        }


def test_a_message_committed_while_a_lane_waits_for_confirms_goes_out_on_another(pg_stack: Embedded) -> None:
    pg_stack.client.app.state.relay.stop()  # type: ignore[attr-defined]  # this test drives its own
    held, following = f"held-{uuid.uuid4().hex[:8]}", f"next-{uuid.uuid4().hex[:8]}"
    broker = SlowConfirmBroker(held)
    relay = OutboxRelay(broker, poll_seconds=0.05)  # type: ignore[arg-type]
    relay.start()
    try:
        assert relay.lanes == 3  # the default on PostgreSQL
        stage(held)
        assert broker.holding.wait(10), "no lane picked up the first message"
        stage(following)
        wait_for(
            lambda: following in broker.sent, timeout=10, what="another lane to publish the next message"
        )
        assert held not in broker.sent
        assert published(held, following) == {held: False, following: True}
        broker.release.set()
        wait_for(
            lambda: published(held, following) == {held: True, following: True},
            timeout=10,
            what="both marked",
        )
        assert sorted(j for j in broker.sent if j in (held, following)) == sorted(
            [held, following]
        )  # once each
    finally:
        broker.release.set()
        relay.stop()
