"""The outbox relay on PostgreSQL: a relay in its own process wakes on PostgreSQL's NOTIFY, sent after
each commit that staged rows: a message committed by another process is published at once, not at
the next sweep; a rolled-back one wakes nobody."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import dramatiq
import psycopg
import pytest
from sqlalchemy import select, text
from support import Embedded, submit_social_job, wait_for

from imagestudio.db import libpq_url, session_scope
from imagestudio.errors import PaymentRequired
from imagestudio.jobs.repository import job_repository
from imagestudio.outbox import OUTBOX_CHANNEL, OutboxMessage, OutboxRelay, outbox_service
from imagestudio.outbox.notifier import simple_query
from imagestudio.outbox.service import commit_notifier
from imagestudio.tenants.service import tenant_service

from .test_submit_on_loop_pg import post_json, upload
from .test_submit_path_pg import statements

pytestmark = pytest.mark.integration

#: Stages one outbox row in another process, committed (or rolled back with ``rollback``).
STAGE = """
import sys
from imagestudio.db import new_session
from imagestudio.outbox import outbox_service
session = new_session()
outbox_service.add(session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": sys.argv[1]})
session.flush()
session.rollback() if sys.argv[2] == "rollback" else session.commit()
session.close()
"""


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self._lock = threading.Lock()

    def enqueue(self, message: dramatiq.Message[Any], **_: object) -> None:
        with self._lock:
            self.sent.setdefault(str(message.kwargs.get("job_id")), time.monotonic())


def stage_elsewhere(job_id: str, outcome: str = "commit") -> float:
    """Stage ``job_id`` from a new process; when its transaction ended."""
    subprocess.run(
        [sys.executable, "-c", STAGE, job_id, outcome], check=True, env=dict(os.environ), timeout=60
    )
    return time.monotonic()


def test_a_listening_relay_publishes_another_process_commit_at_once(pg_stack: Embedded) -> None:
    pg_stack.client.app.state.relay.stop()  # type: ignore[attr-defined]  # this test drives its own
    broker = RecordingBroker()
    # A sweep a minute apart: only the notification can publish within the test's seconds.
    relay = OutboxRelay(broker, poll_seconds=60, listen=True)  # type: ignore[arg-type]
    relay.start()
    try:
        assert relay.listening
        time.sleep(0.5)  # the first sweep (at start) and the LISTEN are done
        rolled_back, committed = f"gone-{uuid.uuid4().hex[:8]}", f"sent-{uuid.uuid4().hex[:8]}"
        stage_elsewhere(rolled_back, "rollback")
        ended = stage_elsewhere(committed)
        wait_for(lambda: committed in broker.sent, timeout=10, what="the relay to publish on NOTIFY")
        assert broker.sent[committed] - ended < 5  # far sooner than the 60 s sweep
        assert rolled_back not in broker.sent
    finally:
        relay.stop()


def test_a_relay_without_listen_waits_for_its_sweep(pg_stack: Embedded) -> None:
    """The control: the same commit, and a relay that does not listen, publishes nothing in time."""
    pg_stack.client.app.state.relay.stop()  # type: ignore[attr-defined]
    broker = RecordingBroker()
    relay = OutboxRelay(broker, poll_seconds=60)  # type: ignore[arg-type]
    relay.start()
    try:
        assert not relay.listening
        time.sleep(0.5)
        job_id = f"late-{uuid.uuid4().hex[:8]}"
        stage_elsewhere(job_id)
        time.sleep(2)
        assert job_id not in broker.sent
    finally:
        relay.stop()


@pytest.mark.parametrize("cost", [0, 5])
def test_the_one_statement_submission_notifies_after_its_commit(pg_stack: Embedded, cost: int) -> None:
    """The hot path's transaction carries no NOTIFY (it would serialise every notifying commit of
    the database); the notifier sends one after the commit, on its own connection: a listener
    hears it for an accepted submission, and nothing for one refused for want of credits."""
    key = pg_stack.new_key(tier="pro")
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
    submit_social_job(tenant_id, cost=cost, side=32)  # the first one grants the month, learns "no endpoints"
    # Its notification is sent by the notifier's thread: let it go before listening, or the
    # listener would hear it in place of the next one's.
    assert commit_notifier.flush(5)
    with psycopg.connect(libpq_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        sent = commit_notifier.sent
        with statements() as seen:
            submit_social_job(tenant_id, cost=cost, side=32)
        assert any(s.startswith("WITH account AS") for s in seen)
        assert not any("pg_notify" in s for s in seen)  # not in the submission's transaction
        heard = [n.channel for n in listener.notifies(timeout=2, stop_after=1)]
        assert heard == [OUTBOX_CHANNEL]
        wait_for(lambda: commit_notifier.sent == sent + 1, timeout=5, what="the notifier's count")
        if cost:
            with pytest.raises(PaymentRequired):
                submit_social_job(tenant_id, cost=10**9, side=32)
            assert [n.channel for n in listener.notifies(timeout=1)] == []
            assert commit_notifier.sent == sent + 1


def test_the_submission_on_the_event_loop_notifies_from_the_loop_after_its_commit(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON submission committed on the gateway's event loop is followed by one ``NOTIFY``
    sent by the loop's notifier (not the thread's), from another backend than the submission's:
    not in its transaction. A submission the account refuses wakes nobody."""
    submitted: list[int] = []  # the backend of each accepted submission's statement
    original = job_repository.insert_submission_async

    async def spy(conn: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> bool:
        accepted = await original(conn, params)
        if accepted:
            submitted.append(conn.info.backend_pid)
        return accepted

    monkeypatch.setattr(job_repository, "insert_submission_async", spy)
    on_loop = pg_stack.client.app.state.submit_notifier  # type: ignore[attr-defined]
    key, _ = pg_stack.new_tenant(tier="free")  # free: 2 jobs at once, the third refused
    image = upload(pg_stack, key)
    assert post_json(pg_stack, key, image).status_code == 202  # warms the caches (maybe in a thread)
    assert commit_notifier.flush(5)
    wait_for(lambda: on_loop.sent >= len(submitted), timeout=5, what="the warm-up's notification")
    with psycopg.connect(libpq_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        by_loop, by_thread, accepted = on_loop.sent, commit_notifier.sent, len(submitted)
        assert post_json(pg_stack, key, image).status_code == 202
        assert len(submitted) == accepted + 1  # committed on the loop
        heard = list(listener.notifies(timeout=2, stop_after=1))
        assert [n.channel for n in heard] == [OUTBOX_CHANNEL]
        assert heard[0].pid != submitted[-1]  # sent by another backend: outside the transaction
        wait_for(lambda: on_loop.sent == by_loop + 1, timeout=5, what="the loop notifier's count")
        assert commit_notifier.sent == by_thread  # the thread was not asked
        assert post_json(pg_stack, key, image).status_code == 429  # refused: nothing committed
        assert [n.channel for n in listener.notifies(timeout=1)] == []
        assert on_loop.sent == by_loop + 1


def test_the_loop_notifiers_query_raises_the_servers_error_and_leaves_the_connection_usable(
    pg_stack: Embedded,
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with await psycopg.AsyncConnection.connect(libpq_url(), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.DivisionByZero):
                await simple_query(conn, b"SELECT 1 / 0")
            await simple_query(conn, b"SELECT pg_notify('imagestudio_test', '')")
            cursor = await conn.execute("SELECT 1")
            return await cursor.fetchone(), conn.info.transaction_status

    row, status = asyncio.run(scenario())
    assert row == (1,) and status == psycopg.pq.TransactionStatus.IDLE


def test_parallel_commits_are_each_followed_by_a_notification_fewer_than_one_each(pg_stack: Embedded) -> None:
    """Many commits at once from this process: a relay listening hears at least one NOTIFY sent
    after the last of them, and no more than one per commit (asks made while one is sent coalesce)."""
    commits = 40
    with psycopg.connect(libpq_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        sent = commit_notifier.sent
        threads = [
            threading.Thread(target=lambda i=i: stage_here(f"burst-{i}-{uuid.uuid4().hex[:6]}"))
            for i in range(commits)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert commit_notifier.flush(5)  # every commit's ask answered by a send begun after it
        heard = list(listener.notifies(timeout=1))
        assert 1 <= len(heard) <= commits
        assert commit_notifier.sent - sent == len(heard)


def stage_here(job_id: str) -> None:
    with session_scope() as session:
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": job_id}
        )


class DownBroker:
    """Refuses the first ``failures`` publishes (RabbitMQ away), then records them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[str] = []

    def enqueue(self, message: dramatiq.Message[Any], **_: object) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        self.sent.append(str(message.kwargs.get("job_id")))


def test_a_failed_batch_on_postgresql_stays_pending_with_its_error_then_goes_once(pg_stack: Embedded) -> None:
    """The batch is marked published by the statement that locks it; a failed publish takes the
    mark back (the rows stay pending, their attempt and error recorded) and the next sweep sends
    them, once."""
    pg_stack.client.app.state.relay.stop()  # type: ignore[attr-defined]
    with session_scope() as session:
        session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    job_id = f"down-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": job_id}
        )
    broker = DownBroker(failures=1)
    assert outbox_service.publish_pending(broker) == 0  # type: ignore[arg-type]
    with session_scope() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kwargs["job_id"].as_string() == job_id)
        ).one()
        assert row.published_at is None and row.attempts == 1
        assert row.last_error and "broker down" in row.last_error
    assert outbox_service.publish_pending(broker) == 1  # type: ignore[arg-type]
    assert outbox_service.publish_pending(broker) == 0  # type: ignore[arg-type]
    assert broker.sent == [job_id]
    with session_scope() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kwargs["job_id"].as_string() == job_id)
        ).one()
        assert row.published_at is not None and row.attempts == 2 and row.last_error is None


def test_a_burst_of_notifications_is_one_wake(pg_stack: Embedded) -> None:
    """The leading lane reads every notification received at once: fifty commits announced while
    it was busy wake it once, not fifty times (each a claim finding nothing)."""
    from imagestudio.outbox.relay import Wakeups

    wakeups = Wakeups(listen=True, retry_seconds=1.0)
    try:
        assert wakeups.wait(0)  # the first wait starts listening: a sweep for what came before
        with psycopg.connect(libpq_url()) as sender:  # fifty notifications, delivered at one commit
            sender.execute(
                "SELECT pg_notify(%s, n::text) FROM generate_series(1, 50) AS n", (OUTBOX_CHANNEL,)
            )
        assert wakeups.wait(10)
        assert not wakeups.drain()  # that one wake consumed all fifty: none left to wake it again
        wakeups.set()  # this process's own wake (a full batch, a stop) still gets through
        assert wakeups.wait(10)
    finally:
        wakeups.close()
