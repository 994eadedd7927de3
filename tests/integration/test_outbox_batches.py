"""The relay's batch publisher on a real RabbitMQ: one wait for a whole batch's confirms."""

from __future__ import annotations

import uuid
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


def test_a_batch_is_confirmed_whole_and_lands_in_its_queue(services: Any) -> None:
    broker = RabbitmqBroker(url=services.broker_url, confirm_delivery=True)
    queue = f"batch-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmedBatchPublisher(broker, services.broker_url)
    try:
        publisher.publish(messages(queue, 250))
        publisher.publish(messages(queue, 50))  # the same connection, confirms counted on
        assert depth(services.broker_url, queue) == 300
    finally:
        publisher.close()
        broker.channel.queue_delete(queue)
        broker.close()


def test_a_message_the_broker_cannot_route_fails_the_batch(services: Any) -> None:
    broker = RabbitmqBroker(url=services.broker_url, confirm_delivery=True)
    queue = f"gone-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmedBatchPublisher(broker, services.broker_url)
    try:
        publisher.publish(messages(queue, 3))
        broker.channel.queue_delete(queue)  # deleted behind the broker's back
        with pytest.raises(RuntimeError, match="returned"):
            publisher.publish(messages(queue, 3))
        publisher.publish(messages(queue, 3))  # declared again, then published
        assert depth(services.broker_url, queue) == 3
    finally:
        publisher.close()
        broker.channel.queue_delete(queue)
        broker.close()
