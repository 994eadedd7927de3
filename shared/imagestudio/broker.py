"""The Dramatiq broker (RabbitMQ or in-process), its middleware and the ``actor()`` wrapper.

Queue and actor names live in the leaf ``imagestudio.messaging``: services enqueue by name without
importing this module.

The broker must be configured before any actor module is imported, because Dramatiq binds an
actor to the global broker when it is declared: worker entry points call ``configure_broker()``
first, then import their actors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from imagestudio.config import Settings, get_settings
from imagestudio.messaging import QUEUES

F = TypeVar("F", bound=Callable[..., Any])


_broker: dramatiq.Broker | None = None


def amqp_url(settings: Settings) -> str:
    """The RabbitMQ URL with a heartbeat: long enough for an idle publisher, short enough to spot dead peers."""
    url = settings.broker_url
    if "heartbeat=" not in url:
        url += ("&" if "?" in url else "?") + "heartbeat=60"
    return url


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.embedded_broker:
        broker = StubBroker()
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # confirm_delivery: a publish returns only once RabbitMQ has the message, so the outbox
        # marks a row published only when it really is.
        broker = RabbitmqBroker(url=amqp_url(settings), confirm_delivery=True)
    from imagestudio.jobs.middleware import FailJobWhenMessageDies
    from imagestudio.telemetry.middleware import TelemetryMiddleware

    broker.add_middleware(CurrentMessage())
    # "after" hooks run in reverse order: placed before Retries, ours sees its verdict.
    broker.add_middleware(FailJobWhenMessageDies(), before=Retries)
    # Metrics and the span: placed before both, its "after" hook sees their verdicts and work.
    broker.add_middleware(TelemetryMiddleware(), before=FailJobWhenMessageDies)
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def configure_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """Build the process's broker once and make it Dramatiq's global broker."""
    global _broker
    if _broker is None:
        _broker = build_broker(settings or get_settings())
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
