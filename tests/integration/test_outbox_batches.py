"""The relay's batch publisher on a real RabbitMQ: one wait for a whole batch's confirms."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import pika
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from imagestudio.outbox import ConfirmedBatchPublisher
from imagestudio.outbox.publishers import Outgoing, outgoing

pytestmark = pytest.mark.integration


def depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def messages(queue: str, count: int) -> list[Outgoing]:
    return [
        outgoing(
            dramatiq.Message(queue_name=queue, actor_name="test.noop", args=(), kwargs={"n": n}, options={})
        )
        for n in range(count)
    ]


@contextmanager
def batch_publisher(url: str) -> Iterator[tuple[ConfirmedBatchPublisher, RabbitmqBroker, str]]:
    """A batch publisher on ``url``, its broker and a fresh queue name; all three gone afterwards."""
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
    queue = f"batch-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmedBatchPublisher(broker, url)
    try:
        yield publisher, broker, queue
    finally:
        publisher.close()
        broker.channel.queue_delete(queue)
        broker.close()


def test_a_batch_is_confirmed_whole_and_lands_in_its_queue(services: Any) -> None:
    with batch_publisher(services.broker_url) as (publisher, _, queue):
        publisher.publish(messages(queue, 250))
        publisher.publish(messages(queue, 50))  # the same connection, confirms counted on
        assert depth(services.broker_url, queue) == 300


def test_a_message_the_broker_cannot_route_fails_the_batch(services: Any) -> None:
    with batch_publisher(services.broker_url) as (publisher, broker, queue):
        publisher.publish(messages(queue, 3))
        broker.channel.queue_delete(queue)  # deleted behind the broker's back
        with pytest.raises(RuntimeError, match="returned"):
            publisher.publish(messages(queue, 3))
        publisher.publish(messages(queue, 3))  # declared again, then published
        assert depth(services.broker_url, queue) == 3


def _stage_rows(queues: list[str]) -> list[str]:
    """One outbox row per queue named, committed together; their message ids, in order."""
    from imagestudio.db import session_scope
    from imagestudio.outbox import outbox_service

    with session_scope() as session:
        rows = [
            outbox_service.add(
                session, queue_name=queue, actor_name="test.noop", kwargs={"job_id": f"{queue}-{n}"}
            )
            for n, queue in enumerate(queues)
        ]
        session.flush()
        return [row.message_id for row in rows]


def _queued_ids(url: str, queue: str) -> list[str]:
    """The message ids waiting in ``queue``, taken off it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel, ids = connection.channel(), []
        while True:
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return ids
            ids.append(dramatiq.Message.decode(body).message_id)
    finally:
        connection.close()


def test_a_batch_failing_half_published_is_sent_again_whole_marked_once(services: Any, pg_stack: Any) -> None:
    """Half a batch reaches RabbitMQ, the other half is returned (its queue deleted): the whole
    batch stays pending, with its attempt and error; the next batch sends it all and marks each
    row once. The repeats carry their rows' message ids (what a worker's lease claim dedupes)."""
    import psycopg
    from sqlalchemy import text

    from imagestudio.db import libpq_url, session_scope
    from imagestudio.outbox import outbox_service

    pg_stack.client.app.state.relay.stop()  # this test drives the publishing
    with session_scope() as session:
        session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    broker = RabbitmqBroker(url=services.broker_url, confirm_delivery=True)
    kept, gone = f"kept-{uuid.uuid4().hex[:8]}", f"gone-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmedBatchPublisher(broker, services.broker_url)
    try:
        publisher.publish(messages(gone, 1))  # declared by the publisher ...
        _queued_ids(services.broker_url, gone)
        broker.channel.queue_delete(gone)  # ... and deleted behind its back
        ids = _stage_rows([kept, gone, kept, gone])
        with psycopg.connect(libpq_url()) as conn:
            assert outbox_service.publish_batch(conn, publisher) == 0
            pending = conn.execute(
                "SELECT message_id, attempts, last_error FROM outbox WHERE published_at IS NULL ORDER BY id"
            ).fetchall()
            assert [row[0] for row in pending] == ids
            assert all(row[1] == 1 and "returned" in row[2] for row in pending)
            conn.commit()
            assert outbox_service.publish_batch(conn, publisher) == 4
            assert outbox_service.publish_batch(conn, publisher) == 0
            marked = conn.execute(
                "SELECT message_id, attempts, last_error, published_at IS NOT NULL FROM outbox "
                "WHERE message_id = ANY(%s) ORDER BY id",
                (ids,),
            ).fetchall()
        assert marked == [(message_id, 2, None, True) for message_id in ids]
        kept_ids = [ids[0], ids[2]]
        assert sorted(_queued_ids(services.broker_url, kept)) == sorted(kept_ids * 2)  # sent twice
        assert _queued_ids(services.broker_url, gone) == [ids[1], ids[3]]  # once, in order
    finally:
        publisher.close()
        for queue in (kept, gone):
            broker.channel.queue_delete(queue)
        broker.close()


def test_a_batch_is_published_once_by_two_relays_sharing_the_outbox(services: Any, pg_stack: Any) -> None:
    """Two lanes' connections claim at once: ``SKIP LOCKED`` gives each row to one of them."""
    import threading

    import psycopg
    from sqlalchemy import text

    from imagestudio.db import libpq_url, session_scope
    from imagestudio.outbox import outbox_service

    pg_stack.client.app.state.relay.stop()
    with session_scope() as session:
        session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    broker = RabbitmqBroker(url=services.broker_url, confirm_delivery=True)
    queue = f"shared-{uuid.uuid4().hex[:8]}"
    ids = _stage_rows([queue] * 300)
    publishers = [ConfirmedBatchPublisher(broker, services.broker_url) for _ in range(2)]
    sent = [0, 0]

    def lane(n: int) -> None:
        with psycopg.connect(libpq_url()) as conn:
            while batch := outbox_service.publish_batch(conn, publishers[n], limit=7):
                sent[n] += batch

    try:
        threads = [threading.Thread(target=lane, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(sent) == 300 and min(sent) > 0, sent
        assert sorted(_queued_ids(services.broker_url, queue)) == sorted(ids)  # each exactly once
    finally:
        for publisher in publishers:
            publisher.close()
        broker.channel.queue_delete(queue)
        broker.close()
