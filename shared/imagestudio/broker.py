"""The Dramatiq broker (RabbitMQ or in-process), its middleware and the ``actor()`` wrapper.

Queue and actor names live in the leaf ``imagestudio.messaging``: services enqueue by name without
importing this module.

The broker must be configured before any actor module is imported, because Dramatiq binds an
actor to the global broker when it is declared: worker entry points call ``configure_broker()``
first, then import their actors. Middleware that belongs to a higher layer (the job middleware,
which fails a job through the jobs service) is handed in by the entry points, as Dramatiq's own
``Broker(middleware=...)`` is: this module never reaches up for it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from queue import Queue
from typing import Any, TypeVar

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from imagestudio.config import Settings, get_settings
from imagestudio.messaging import MAX_PRIORITY, PRIORITY_OPTION, QUEUES
from imagestudio.telemetry.middleware import TelemetryMiddleware

F = TypeVar("F", bound=Callable[..., Any])


_broker: dramatiq.Broker | None = None


class _MessagePriorityQueue(Queue[bytes]):
    """A queue of encoded messages handed out as a RabbitMQ priority queue does: the highest
    ``broker_priority`` first (none counts as 0), first in first out within one priority."""

    def _init(self, maxsize: int) -> None:
        self.queue: list[tuple[int, int, bytes]] = []
        self._arrivals = itertools.count()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: bytes) -> None:
        priority = dramatiq.Message.decode(item).options.get(PRIORITY_OPTION) or 0
        heapq.heappush(self.queue, (-int(priority), next(self._arrivals), item))

    def _get(self) -> bytes:
        return heapq.heappop(self.queue)[2]


class PriorityStubBroker(StubBroker):
    """The in-process broker (embedded mode, unit tests), its queues honouring message priorities
    as the RabbitMQ ones declared with ``x-max-priority`` do."""

    def declare_queue(self, queue_name: str) -> None:
        fresh = queue_name not in self.queues
        super().declare_queue(queue_name)
        if fresh:  # nothing was put on the plain queue yet; its delay queue stays in time order
            self.queues[queue_name] = _MessagePriorityQueue()


def build_broker(settings: Settings, *, middleware: Sequence[dramatiq.Middleware] = ()) -> dramatiq.Broker:
    """A broker with the common middleware, plus ``middleware`` (the entry point's) just before Retries."""
    broker: dramatiq.Broker
    if settings.embedded_broker:
        broker = PriorityStubBroker()
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # confirm_delivery: a publish returns only once RabbitMQ has the message, so the outbox
        # marks a row published only when it really is. max_priority: every queue is declared
        # with ``x-max-priority`` (a job's priority; see ``upgrade_queues`` for older queues).
        broker = RabbitmqBroker(url=settings.amqp_url, confirm_delivery=True, max_priority=MAX_PRIORITY)
    broker.add_middleware(CurrentMessage())
    # "after" hooks run in reverse order. Metrics and the span: placed before the handed-in
    # middleware and Retries, its "after" hook sees their verdicts and work.
    broker.add_middleware(TelemetryMiddleware(), before=Retries)
    # Placed just before Retries (after telemetry), each handed-in middleware sees its verdict.
    for extra in middleware:
        broker.add_middleware(extra, before=Retries)
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def configure_broker(
    settings: Settings | None = None, *, middleware: Sequence[dramatiq.Middleware] = ()
) -> dramatiq.Broker:
    """Build the process's broker once and make it Dramatiq's global broker (the first call's
    ``middleware`` stays: an entry point calls this before anything else)."""
    global _broker
    if _broker is None:
        _broker = build_broker(settings or get_settings(), middleware=middleware)
        dramatiq.set_broker(_broker)
    return _broker


def get_broker() -> dramatiq.Broker:
    return configure_broker()


def use_broker(broker: dramatiq.Broker | None) -> dramatiq.Broker | None:
    """Swap the process's broker (tests); returns the previous one so it can be restored."""
    global _broker
    previous, _broker = _broker, broker
    if broker is not None:
        dramatiq.set_broker(broker)
    return previous


def actor(actor_name: str, *, queue: str, **options: Any) -> Callable[[F], F]:
    """Declare a Dramatiq actor named ``<domain>.<verb>`` on its studio's queue."""

    def decorator(fn: F) -> F:
        return dramatiq.actor(  # type: ignore[no-any-return,call-overload]
            fn, actor_name=actor_name, queue_name=queue, broker=get_broker(), **options
        )

    return decorator


def upgrade_queues(settings: Settings) -> list[str]:
    """Re-create the RabbitMQ queues declared before priorities (without ``x-max-priority``).

    RabbitMQ refuses to declare an existing queue with other arguments (``PRECONDITION_FAILED``),
    so a worker of this version cannot start on a broker an older version declared. Each studio
    queue and its delay queue is declared as this version declares it; one refused is deleted with
    the messages in it and declared again. Returns the queues re-created. The jobs those messages
    carried are still queued in the database: the caller stages them again (``admin queues
    upgrade`` does), and the job sweeper would in any case. Run with the workers stopped.
    """
    import pika
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.common import dq_name

    # The arguments this version declares with, from Dramatiq's own broker (never connected here).
    arguments: Callable[[str], dict[str, Any]] = RabbitmqBroker(
        url=settings.amqp_url, max_priority=MAX_PRIORITY
    )._build_queue_arguments
    recreated: list[str] = []
    with pika.BlockingConnection(pika.URLParameters(settings.amqp_url)) as connection:
        # A delay queue is declared with its queue's arguments (its dead letters go to the same place).
        for name, canonical in [(n, q) for q in QUEUES for n in (q, dq_name(q))]:
            channel = connection.channel()
            try:
                channel.queue_declare(name, durable=True, arguments=arguments(canonical))
                channel.close()
                continue
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 406:  # PRECONDITION_FAILED: declared with other arguments
                    raise
            channel = connection.channel()
            channel.queue_delete(name)
            channel.queue_declare(name, durable=True, arguments=arguments(canonical))
            channel.close()
            recreated.append(name)
    return recreated
