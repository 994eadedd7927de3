"""Deferring the message a worker is processing: it goes back behind the others, spending no retry.

A worker that takes a message its tenant may not run yet (the tenant already runs its share of
the pool: ``jobs.service``'s claim, ``webhooks.delivery``'s claim) publishes a copy of it after a
short delay and acks the original: the copy rides the delay queue, then joins the tail of its
queue, behind every other tenant's messages of its priority (the copy keeps the message's
``broker_priority``: a high job put back still goes before normal ones). Dramatiq's ``Retry`` would count a retry (and fail
the message past ``max_retries``); this does not. The copy is published (with publisher
confirms on RabbitMQ) before the original is acked, so a worker dying in between leaves two
messages for one job or delivery, which their claims already make harmless, never none.
"""

from __future__ import annotations

import random

import dramatiq
from dramatiq.middleware import CurrentMessage

from imagestudio.config import get_settings
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import MESSAGES_DEFERRED

log = get_logger(__name__)

#: The option counting a message's deferrals (its retries are left alone).
DEFERRALS_OPTION = "deferrals"
#: The wait doubles per deferral up to this many times ``TENANT_DEFER_SECONDS``.
MAX_DEFER_FACTOR = 8
#: Share of each wait drawn at random (±), so deferred messages come back spread out.
DEFER_JITTER = 0.25


def defer_delay_seconds(deferrals: int, *, base: float) -> float:
    """Seconds the ``deferrals``-th deferral (0-based) of a message waits, with jitter."""
    factor: float = min(2 ** min(deferrals, 16), MAX_DEFER_FACTOR)
    return float(base * factor * random.uniform(1 - DEFER_JITTER, 1 + DEFER_JITTER))


def defer_current_message(reason: str) -> float:
    """Publish the current message again after a short delay; the caller then returns (acks it).

    Returns the delay in seconds. Raises ``RuntimeError`` outside a worker's message, and
    whatever the broker raises when it cannot publish: the original message is then retried as
    after any error, so it is never lost.
    """
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("no message is being processed on this thread")
    deferrals = int(message.options.get(DEFERRALS_OPTION, 0))
    delay = defer_delay_seconds(deferrals, base=get_settings().tenant_defer_seconds)
    copy = message.copy(options={DEFERRALS_OPTION: deferrals + 1})
    dramatiq.get_broker().enqueue(copy, delay=int(delay * 1000))
    MESSAGES_DEFERRED.labels(message.queue_name, message.actor_name, reason).inc()
    log.info(
        "message.deferred",
        message_id=message.message_id,
        actor=message.actor_name,
        reason=reason,
        deferrals=deferrals + 1,
        delay_seconds=round(delay, 3),
        **{k: v for k, v in message.kwargs.items() if k in ("job_id", "delivery_id")},
    )
    return delay
