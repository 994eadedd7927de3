"""Publishers of a relay's batch: batched publisher confirms on RabbitMQ, plain enqueue in-process."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq

from imagestudio.config import get_settings

#: One message as a relay sends it: its queue, its broker priority (or None) and its Dramatiq body
#: (what ``Message.encode`` gives; on PostgreSQL the claim statement encodes it).
Outgoing = tuple[str, int | None, str | bytes]


def outgoing(message: dramatiq.Message[Any]) -> Outgoing:
    """``message`` as a relay sends it."""
    return (message.queue_name, message.options.get("broker_priority"), message.encode())


class EnqueuePublisher:
    """Any Dramatiq broker (the in-process one): enqueue one message at a time."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def connect(self) -> None:
        """Nothing to open: the broker is in-process."""

    def publish(self, messages: Sequence[Outgoing]) -> None:
        for _queue, _priority, body in messages:
            self._broker.enqueue(dramatiq.Message.decode(body if isinstance(body, bytes) else body.encode()))

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

    def publish(self, messages: Sequence[Outgoing]) -> None:
        import pika
        from dramatiq.common import q_name

        for queue in {q_name(queue) for queue, _, _ in messages}:
            self._broker.declare_queue(queue, ensure=True)
        try:
            channel = self._connect()
            self._returned.clear()
            publish = channel._impl.basic_publish
            persistent = pika.BasicProperties(delivery_mode=2)  # shared: pika only reads it
            first = self._next_tag
            for queue, priority, body in messages:
                publish(
                    exchange="",
                    routing_key=queue,
                    body=body,
                    properties=persistent
                    if priority is None
                    else pika.BasicProperties(delivery_mode=2, priority=priority),
                    mandatory=True,
                )
            self._next_tag = first + len(messages)
            self._unconfirmed.update(range(first, self._next_tag))
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


def new_publisher(broker: dramatiq.Broker) -> ConfirmedBatchPublisher | EnqueuePublisher:
    """A publisher for ``broker``: batched confirms on RabbitMQ (a connection of its own), plain
    enqueue otherwise."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    if isinstance(broker, RabbitmqBroker):
        return ConfirmedBatchPublisher(broker, get_settings().amqp_url)
    return EnqueuePublisher(broker)


def publisher_for(broker: dramatiq.Broker) -> Any:
    """The process's shared publisher for ``broker`` (``drain`` and one-off sweeps)."""
    publisher = _publishers.get(id(broker))
    if publisher is None:
        publisher = new_publisher(broker)
        _publishers.clear()  # one broker per process (tests swap it): forget the old one
        _publishers[id(broker)] = publisher
    return publisher
