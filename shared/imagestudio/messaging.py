"""Queue and actor names: what a service needs to enqueue by name without importing a worker.

A leaf (no ``imagestudio`` imports): services stage messages by these names, the workers declare
their actors with them, and ``broker.py`` declares the queues. Actors are named ``<queue>.<verb>``.
"""

from __future__ import annotations

from enum import StrEnum


# The studio names, for the layers below the studios: tiers, queues, actors, the CLI's workers and the
# jobs' filters are derived from them. Written from the studio registry (``imagestudio.studios.registry``,
# the one list) by ``imagestudio deploy render``; ``--check`` fails while they differ. Each studio has a
# queue of its own (its name), so each worker deployment scales on its own.
# >>> studios (written by `imagestudio deploy render` from the studio registry)
class Studio(StrEnum):
    """The studio a job belongs to: the kind of work it does."""

    create = "create"
    edit = "edit"
    upscale = "upscale"
    social = "social"
    control = "control"
    compress = "compress"


#: Studios whose provider work may be asynchronous, finished by a ``<studio>.poll`` chain.
POLLING_STUDIOS: tuple[Studio, ...] = (Studio.edit, Studio.upscale, Studio.control)
#: Studios the free tier may use (the face's ``FREE_TIER``).
FREE_STUDIOS: tuple[Studio, ...] = (Studio.create, Studio.social, Studio.compress)
# <<< studios


class Priority(StrEnum):
    """A job's place among its studio's queued jobs: a higher one is started before a lower one."""

    low = "low"
    normal = "normal"
    high = "high"


#: Each priority's AMQP message priority (RabbitMQ delivers higher first), also the job row's rank.
PRIORITY_RANKS: dict[Priority, int] = {Priority.low: 0, Priority.normal: 1, Priority.high: 2}
#: A ``<studio>.poll`` continues a job a worker already started: ahead of every start.
POLL_PRIORITY = 3
#: Every queue's ``x-max-priority`` (RabbitMQ keeps a sub-queue per level: few levels are cheap).
MAX_PRIORITY = POLL_PRIORITY
#: The Dramatiq message option RabbitMQ's priority rides in (the in-process broker reads it too).
PRIORITY_OPTION = "broker_priority"


def priority_of_rank(rank: int) -> Priority:
    """The priority a job row's rank stands for."""
    return next(p for p, r in PRIORITY_RANKS.items() if r == rank)


#: The webhook deliveries' queue, beside one queue per studio.
WEBHOOKS_QUEUE = "webhooks"

#: Every queue the broker declares: one per studio, then webhooks.
QUEUES: tuple[str, ...] = (*Studio, WEBHOOKS_QUEUE)

WEBHOOKS_DELIVER = f"{WEBHOOKS_QUEUE}.deliver"

#: The actor that runs a job, by studio (the gateway and the outbox enqueue by name).
RUN_JOB_ACTORS: dict[str, str] = {studio: f"{studio}.run_job" for studio in Studio}

#: The actor that polls a studio's asynchronous provider work, by studio.
POLL_ACTORS: dict[str, str] = {studio: f"{studio}.poll" for studio in POLLING_STUDIOS}

#: Actors whose message carries a job to its end: when Dramatiq gives up on one, the job fails.
JOB_ACTORS: frozenset[str] = frozenset(RUN_JOB_ACTORS.values()) | frozenset(POLL_ACTORS.values())
