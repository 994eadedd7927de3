"""The pipelined relay on PostgreSQL and RabbitMQ: several batches in flight on one channel, each
row marked published only once RabbitMQ confirmed it, whatever order the confirms come in; a crash
between the publish and the mark sends the rows again (with their message ids: a worker's lease
claim drops the repeat); a busy relay gathers commits into fewer, larger batches."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import text
from support import wait_for

from imagestudio.config import get_settings
from imagestudio.db import libpq_url, session_scope
from imagestudio.outbox import ConfirmedBatchPublisher, OutboxRelay, outbox_service
from imagestudio.outbox.publishers import InFlight

from .test_outbox_batches import _queued_ids, _stage_rows, messages

pytestmark = pytest.mark.integration


@pytest.fixture
def rabbit(services: Any, pg_stack: Any) -> Iterator[tuple[RabbitmqBroker, str]]:
    """A RabbitMQ broker and a fresh queue; the in-process relay stopped, the outbox emptied."""
    pg_stack.client.app.state.relay.stop()  # these tests drive the publishing
    with session_scope() as session:
        session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    broker = RabbitmqBroker(url=services.broker_url, confirm_delivery=True)
    queue = f"pipe-{uuid.uuid4().hex[:8]}"
    try:
        yield broker, queue
    finally:
        broker.channel.queue_delete(queue)
        broker.close()


def staged(
    services: Any, rabbit: tuple[RabbitmqBroker, str], count: int
) -> tuple[str, list[str], ConfirmedBatchPublisher]:
    """``count`` rows staged for the test's queue: the queue, their message ids, a publisher."""
    broker, queue = rabbit
    return queue, _stage_rows([queue] * count), ConfirmedBatchPublisher(broker, services.broker_url)


def in_threads(target: Any, count: int) -> None:
    """``target`` run in ``count`` threads at once, until all are done."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def confirmed(publisher: ConfirmedBatchPublisher, *batches: InFlight) -> bool:
    """Read the confirms received so far; whether every batch named is settled."""
    publisher.pump()
    return all(batch.settled for batch in batches)


def pending(conn: psycopg.Connection[Any], ids: list[str]) -> list[str]:
    """Which of the message ids are not marked published (as another connection sees them)."""
    rows = conn.execute(
        "SELECT message_id FROM outbox WHERE message_id = ANY(%s) AND published_at IS NULL ORDER BY id",
        (ids,),
    ).fetchall()
    return [row[0] for row in rows]


def test_batches_in_flight_together_are_marked_only_once_confirmed_in_any_order(
    services: Any, rabbit: tuple[RabbitmqBroker, str]
) -> None:
    queue, ids, publisher = staged(services, rabbit, 5)
    first_conn, second_conn = psycopg.connect(libpq_url()), psycopg.connect(libpq_url())
    try:
        with psycopg.connect(libpq_url(), autocommit=True) as observer:
            first_rows, first = outbox_service.send_batch(first_conn, publisher, limit=3)
            second_rows, second = outbox_service.send_batch(second_conn, publisher, limit=3)
            assert first is not None and second is not None
            assert [r[0] for r in first_rows] < [r[0] for r in second_rows]  # the oldest rows first
            assert (len(first_rows), len(second_rows)) == (3, 2)
            # The second sent while the first's transaction is open (its confirms may be in already).
            assert pending(observer, ids) == ids  # nothing marked before its confirms
            wait_for(lambda: confirmed(publisher, first, second), timeout=10, what="confirms")
            assert first.error is None and second.error is None
            # The second batch's mark committed first: each batch's transaction is its own.
            assert outbox_service.settle_batch(second_conn, second_rows, second) == 2
            assert pending(observer, ids) == ids[:3]
            assert outbox_service.settle_batch(first_conn, first_rows, first) == 3
            assert pending(observer, ids) == []
        assert sorted(_queued_ids(services.broker_url, queue)) == sorted(ids)  # each exactly once
    finally:
        publisher.close()
        first_conn.close()
        second_conn.close()


def test_a_crash_between_publish_and_mark_publishes_the_rows_again(
    services: Any, rabbit: tuple[RabbitmqBroker, str]
) -> None:
    """The relay dies after RabbitMQ confirmed a batch, before its mark committed: the rows'
    locks and marks go with its connection, and the next claim sends them again, same ids."""
    queue, ids, publisher = staged(services, rabbit, 3)
    try:
        conn = psycopg.connect(libpq_url())
        rows, batch = outbox_service.send_batch(conn, publisher)
        assert batch is not None and len(rows) == 3
        wait_for(lambda: confirmed(publisher, batch), timeout=10, what="confirms")
        assert batch.error is None
        conn.close()  # the crash: no commit
        with psycopg.connect(libpq_url()) as again:
            assert pending(again, ids) == ids
            again.rollback()
            assert outbox_service.publish_batch(again, publisher) == 3
            assert pending(again, ids) == []
        assert sorted(_queued_ids(services.broker_url, queue)) == sorted(ids * 2)  # sent twice, same ids
    finally:
        publisher.close()


def test_a_return_fails_every_batch_in_flight_and_both_go_again(
    services: Any, rabbit: tuple[RabbitmqBroker, str]
) -> None:
    """A returned message names no delivery tag: every batch then in flight rolls back, its
    attempt and error recorded, and is sent again whole; the queue is declared again first."""
    broker, queue = rabbit
    gone = f"gone-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmedBatchPublisher(broker, services.broker_url)
    try:
        publisher.publish(messages(gone, 1))  # declared by the publisher ...
        _queued_ids(services.broker_url, gone)
        broker.channel.queue_delete(gone)  # ... and deleted behind its back
        kept_ids, gone_ids = _stage_rows([queue, queue]), _stage_rows([gone])
        a, b = psycopg.connect(libpq_url()), psycopg.connect(libpq_url())
        try:
            kept_rows, kept = outbox_service.send_batch(a, publisher, limit=2)
            gone_rows, returned = outbox_service.send_batch(b, publisher, limit=2)
            assert kept is not None and returned is not None and len(gone_rows) == 1
            wait_for(lambda: confirmed(publisher, kept, returned), timeout=10, what="settled")
            assert returned.error is not None and "returned" in returned.error
            assert outbox_service.settle_batch(b, gone_rows, returned) == 0
            if kept.error is not None:  # in flight when the return came: failed with it
                assert outbox_service.settle_batch(a, kept_rows, kept) == 0
            else:  # confirmed before the return arrived
                assert outbox_service.settle_batch(a, kept_rows, kept) == 2
            errors = a.execute(
                "SELECT attempts, last_error FROM outbox WHERE message_id = ANY(%s)", (gone_ids,)
            ).fetchall()
            a.rollback()
            assert errors == [(1, errors[0][1])] and "returned" in errors[0][1]
        finally:
            a.close()
            b.close()
        with psycopg.connect(libpq_url()) as conn:
            while outbox_service.publish_batch(conn, publisher):
                pass
            assert pending(conn, kept_ids + gone_ids) == []
        assert _queued_ids(services.broker_url, gone) == gone_ids
        assert set(_queued_ids(services.broker_url, queue)) == set(kept_ids)
    finally:
        publisher.close()
        broker.channel.queue_delete(gone)


@pytest.fixture
def pipelined(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The pipelined relay chosen (``IMAGESTUDIO_OUTBOX_RELAY_PIPELINED``, the default: set here so
    the test holds whatever the environment says)."""
    monkeypatch.setenv("IMAGESTUDIO_OUTBOX_RELAY_PIPELINED", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # before monkeypatch restores the environment: the next read is fresh


def test_the_relay_pipelines_on_one_thread_gathers_under_load_and_sends_each_row_once(
    services: Any, rabbit: tuple[RabbitmqBroker, str], monkeypatch: pytest.MonkeyPatch, pipelined: None
) -> None:
    broker, queue = rabbit
    monkeypatch.setattr(
        "imagestudio.outbox.relay.new_publisher", lambda b: ConfirmedBatchPublisher(b, services.broker_url)
    )
    relay = OutboxRelay(broker, poll_seconds=0.2, gather_seconds=0.01)
    relay.start()
    staged: list[str] = []
    try:
        assert relay.lanes == 1 and relay.pipeline is not None  # one thread, batches pipelined
        _stage_rows([queue])  # a first row: the relay is busy from here on
        wait_for(
            lambda: relay.pipeline is not None and relay.pipeline.published >= 1, timeout=10, what="first"
        )

        def commit_steadily() -> None:  # 8 threads x 25 commits of one row, ~2 ms apart each
            for _ in range(25):
                staged.extend(_stage_rows([queue]))
                time.sleep(0.002)

        in_threads(commit_steadily, 8)
        with psycopg.connect(libpq_url(), autocommit=True) as conn:
            wait_for(lambda: not pending(conn, staged), timeout=20, what="every row published")
            batches = conn.execute(
                "SELECT count(DISTINCT published_at) FROM outbox WHERE message_id = ANY(%s)", (staged,)
            ).fetchone()[0]  # type: ignore[index]
        assert len(staged) == 200
        assert batches < 100, f"200 rows in {batches} batches: the busy relay did not gather"
        wait_for(
            lambda: relay.pipeline is not None and relay.pipeline.in_flight == 0, timeout=10, what="idle"
        )
        time.sleep(0.3)  # idle now: no transaction is held open between claims
        with psycopg.connect(libpq_url(), autocommit=True) as conn:
            open_ = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND query LIKE '%imagestudio_outbox_claim%'"
            ).fetchone()[0]  # type: ignore[index]
        assert open_ == 0
    finally:
        relay.stop()
    queued = _queued_ids(services.broker_url, queue)
    assert sorted(q for q in queued if q in set(staged)) == sorted(staged)  # each exactly once


def test_a_channel_lost_with_batches_in_flight_leaves_them_pending_then_sends_them(
    services: Any, rabbit: tuple[RabbitmqBroker, str]
) -> None:
    queue, ids, publisher = staged(services, rabbit, 2)
    try:
        with psycopg.connect(libpq_url()) as conn:
            rows, batch = outbox_service.send_batch(conn, publisher)
            assert batch is not None
            publisher._connection._impl._transport._sock.shutdown(2)  # the connection breaks
            wait_for(lambda: confirmed(publisher, batch), timeout=10, what="the loss seen")
            assert batch.error is not None
            assert outbox_service.settle_batch(conn, rows, batch) == 0
            assert pending(conn, ids) == ids
            conn.rollback()
            assert outbox_service.publish_batch(conn, publisher) == 2  # a new connection
        assert set(_queued_ids(services.broker_url, queue)) == set(ids)
    finally:
        publisher.close()
