"""Publishers of a relay's batch: batched publisher confirms on RabbitMQ, plain enqueue in-process."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq

from imagestudio.config import get_settings
from imagestudio.outbox.frames import PublishFrames, read_confirms
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: Seconds between runs of pika's own I/O loop (heartbeats, timers) while batches are in flight
#: and the confirms are read by :meth:`ConfirmedBatchPublisher.pump` itself.
EVENTS_SECONDS = 1.0

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


class InFlight:
    """One batch sent on a :class:`ConfirmedBatchPublisher`'s channel, its confirms outstanding.

    ``error`` is set when the batch failed (a message nacked or returned, the channel lost, no
    confirm in time): its rows must stay pending and be sent again. Settled when every tag is
    confirmed or it failed.
    """

    __slots__ = ("error", "first", "last", "sent_at", "size", "unconfirmed")

    def __init__(self, first: int, size: int) -> None:
        self.first, self.last, self.size = first, first + size - 1, size
        self.unconfirmed: set[int] = set(range(first, first + size))
        self.error: str | None = None
        self.sent_at = time.monotonic()

    @property
    def settled(self) -> bool:
        return self.error is not None or not self.unconfirmed

    def fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        self.unconfirmed.clear()


class ConfirmedBatchPublisher:
    """RabbitMQ: publish batches on one confirm-mode channel; each batch settles when all its
    publisher confirms are in.

    Dramatiq's broker waits for each message's confirm before sending the next (a round trip
    each); the relay owns this connection and sends whole batches. :meth:`send` publishes a batch
    and returns at once (its :class:`InFlight`): several batches can wait for their confirms
    together, which :meth:`pump` reads (from a caller polling :meth:`fileno`); :meth:`publish`
    sends one batch and waits for it. Messages are published ``mandatory``: one the broker cannot
    route is returned (before its confirm), and every batch then in flight fails (a return names
    no delivery tag; a batch failed in vain is only sent again, which consumers absorb).

    On a plain TCP connection a batch's frames are built from per-queue templates and written to
    the socket in one ``send``, and :meth:`pump` reads the socket itself, parsing the confirms and
    handing every other frame to pika in order (``frames.py``); pika's I/O loop still runs every
    :data:`EVENTS_SECONDS` (heartbeats) and whenever the publisher waits (:meth:`publish`).
    """

    def __init__(self, broker: Any, url: str, *, confirm_timeout_seconds: float = 5.0) -> None:
        self._broker = broker
        self._url = url
        self._timeout = confirm_timeout_seconds
        self._connection: Any = None
        self._channel: Any = None
        #: Batches sent on this channel whose confirms are outstanding, oldest first.
        self._flight: list[InFlight] = []
        #: The delivery tag of the next message published on this channel (1 after confirm.select).
        self._next_tag = 1
        self._closed: Exception | None = None
        self._persistent: Any = None
        #: Whether :meth:`_wait` runs (a settled batch then ends its ``process_data_events``).
        self._waiting = False
        #: The connection's plain TCP socket, read and written here (None: pika's I/O loop does it).
        self._sock: socket.socket | None = None
        self._frames: PublishFrames | None = None
        self._frames_channel = 0
        #: When pika's I/O loop runs next while :meth:`pump` reads the confirms (monotonic).
        self._events_at = 0.0

    @property
    def in_flight(self) -> int:
        """Batches sent and not yet settled."""
        return len(self._flight)

    def connect(self) -> None:
        """Open the connection and its confirm-mode channel now (``send`` reopens them when lost)."""
        self._connect()

    def _connect(self) -> Any:
        import pika

        if self._channel is not None and self._channel.is_open and self._connection.is_open:
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = self._connection.channel()
        selected: list[bool] = []
        self._next_tag = 1
        self._closed = None
        # The blocking channel's own confirm mode waits per publish; the underlying channel's
        # callback tells us each confirm. Tags are tracked one by one: with several queues in a
        # batch RabbitMQ may confirm a later tag before a ``multiple`` covering earlier ones.
        channel._impl.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _: selected.append(True)
        )
        channel._impl.add_on_return_callback(self._on_return)
        channel._impl.add_on_close_callback(self._on_close)
        self._persistent = pika.BasicProperties(delivery_mode=2)  # shared: pika only reads it
        self._wait(lambda: bool(selected))
        impl = self._connection._impl
        sock = getattr(impl._transport, "_sock", None)
        # TLS goes through pika's transport (its socket's bytes are not the frames).
        plain = type(sock) is socket.socket
        self._sock = sock if plain else None
        self._frames_channel = int(channel._impl.channel_number)
        self._frames = PublishFrames(self._frames_channel, impl._body_max_length) if plain else None
        self._channel = channel
        return channel

    def _on_confirm(self, frame: Any) -> None:
        """pika's callback for a confirm its I/O loop read."""
        import pika

        method = frame.method
        settled = self._confirmed(
            method.delivery_tag, method.multiple, isinstance(method, pika.spec.Basic.Nack)
        )
        if settled and self._waiting:
            # This callback runs inside ``process_data_events``, which returns only on its
            # time limit or on an event of its own: a zero-delay timer is one, so ``_wait``
            # sees the batch settled now rather than at the end of its 50 ms slice.
            self._connection.call_later(0, _settled)

    def _confirmed(self, tag: int, multiple: bool, nack: bool) -> bool:
        """A ``basic.ack`` (or ``basic.nack``) of ``tag``, read by pika or by :meth:`_read`:
        whether a batch settled."""
        for batch in self._flight:
            if multiple:  # delivery_tag 0 with multiple: every outstanding tag
                if tag == 0 or batch.last <= tag:
                    hit = bool(batch.unconfirmed)
                    batch.unconfirmed.clear()
                elif batch.first <= tag:
                    before = len(batch.unconfirmed)
                    batch.unconfirmed = {t for t in batch.unconfirmed if t > tag}
                    hit = len(batch.unconfirmed) < before
                else:
                    continue
            elif batch.first <= tag <= batch.last:
                hit = tag in batch.unconfirmed
                batch.unconfirmed.discard(tag)
            else:
                continue
            if nack and hit:
                batch.fail("RabbitMQ refused (nacked) messages of the batch")
        if any(batch.settled for batch in self._flight):
            self._flight = [batch for batch in self._flight if not batch.settled]
            return True
        return False

    def _on_close(self, _channel: Any, reason: Exception) -> None:
        self._closed = reason
        self._fail_all(f"RabbitMQ closed the publishing channel: {reason!r}")

    def _on_return(self, _channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        from dramatiq.common import q_name

        self._broker.queues_pending.add(q_name(method.routing_key))  # declared again before the next
        self._fail_all(f"RabbitMQ returned messages for {method.routing_key!r}")

    def _fail_all(self, error: str) -> None:
        flight, self._flight = self._flight, []
        for batch in flight:
            batch.fail(error)

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._timeout
        self._waiting = True
        try:
            while not done():
                if self._closed is not None:  # the broker closed the channel: no confirm will come
                    raise RuntimeError(f"RabbitMQ closed the publishing channel: {self._closed!r}")
                if time.monotonic() > deadline:
                    raise TimeoutError("RabbitMQ did not confirm the batch in time")
                self._connection.process_data_events(time_limit=0.05)
        finally:
            self._waiting = False

    def send(self, messages: Sequence[Outgoing]) -> InFlight:
        """Publish ``messages`` without waiting for their confirms (all written to the socket).

        Raises when the broker cannot be reached (nothing of the batch counts as sent)."""
        import pika
        from dramatiq.common import q_name

        broker = self._broker
        for queue in {q_name(queue) for queue, _, _ in messages}:
            if queue in broker.queues_pending or queue not in broker.queues:
                broker.declare_queue(queue, ensure=True)
        try:
            channel = self._connect()
            batch = InFlight(self._next_tag, len(messages))
            if self._frames is not None:
                self._write(messages)
                self._next_tag += len(messages)
                self._flight.append(batch)
                return batch
            publish = channel._impl.basic_publish
            persistent = self._persistent
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
            self._next_tag += len(messages)
            self._flight.append(batch)
            self._connection.process_data_events(0)  # every frame written; confirms read so far
        except Exception:
            self.close()
            raise
        return batch

    def _write(self, messages: Sequence[Outgoing]) -> None:
        """The batch's frames written in one ``send`` (what the socket does not take, through
        pika's transport, behind anything it still holds)."""
        assert self._frames is not None and self._sock is not None
        out: list[bytes] = []
        message = self._frames.message
        for queue, priority, body in messages:
            message(queue, priority, body if isinstance(body, bytes) else body.encode(), out)
        data = b"".join(out)
        impl = self._connection._impl
        impl.bytes_sent += len(data)
        impl.frames_sent += 3 * len(messages)
        sent = 0
        if not impl._get_write_buffer_size():
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
        if sent < len(data):
            impl._adapter_emit_data(data[sent:])
            self._connection.process_data_events(0)

    def _read(self) -> None:
        """Read what the socket holds: confirms parsed here, every other frame to pika."""
        assert self._sock is not None
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            raise ConnectionError("RabbitMQ closed the connection")
        impl = self._connection._impl
        buffer, impl._frame_buffer = impl._frame_buffer + data, b""
        whole, confirms = read_confirms(
            buffer, self._frames_channel, self._confirmed, impl._on_data_available
        )
        impl._frame_buffer = buffer[whole:]  # a frame still arriving: whoever reads next completes it
        impl.bytes_received += confirms  # pika's heartbeat checker counts what was heard

    def fileno(self) -> int | None:
        """The connection's socket, to poll for confirms (None when not connected)."""
        try:
            return int(self._connection._impl._transport._sock.fileno())
        except AttributeError:
            return None

    def pump(self) -> None:
        """Read the confirms (and returns) received so far, without waiting; fail every batch in
        flight when the connection is lost or the oldest waited past the confirm timeout."""
        if not self._flight:
            return
        try:
            if self._closed is None:
                if self._sock is None:
                    self._connection.process_data_events(0)
                else:
                    self._read()
                    now = time.monotonic()
                    if now >= self._events_at and self._closed is None:
                        self._events_at = now + EVENTS_SECONDS
                        self._connection.process_data_events(0)  # heartbeats, timers
            if self._closed is not None:
                raise RuntimeError(f"RabbitMQ closed the publishing channel: {self._closed!r}")
            if self._flight and time.monotonic() - self._flight[0].sent_at > self._timeout:
                raise TimeoutError("RabbitMQ did not confirm the batch in time")
        except Exception as exc:  # every batch in flight is sent again, on a new connection
            self._fail_all(repr(exc))
            self.close()

    def keep_alive(self) -> None:
        """Process the connection's events (heartbeats) while nothing is in flight: an idle relay
        calls it at each sweep, so the broker does not close a connection it hears nothing from."""
        if self._connection is None or self._flight:
            return
        try:
            self._connection.process_data_events(0)
        except Exception as exc:  # lost while idle: the next batch connects again
            log.warning("outbox.publisher_lost", error=repr(exc))
            self.close()

    def deadline(self) -> float | None:
        """When the oldest batch in flight times out (monotonic), or None."""
        return self._flight[0].sent_at + self._timeout if self._flight else None

    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send one batch and wait for its confirms; raises when it failed (the rows stay pending)."""
        batch = self.send(messages)
        try:
            self._wait(lambda: batch.settled)
        except Exception as exc:
            self._fail_all(repr(exc))
            self.close()
            raise
        if batch.error is not None:
            raise RuntimeError(batch.error)

    def close(self) -> None:
        self._fail_all("the publishing connection was closed")
        connection, self._connection, self._channel = self._connection, None, None
        self._sock, self._frames = None, None
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
