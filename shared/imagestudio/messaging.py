"""Queue and actor names: what a service needs to enqueue by name without importing a worker.

A leaf (no ``imagestudio`` imports): services stage messages by these names, the workers declare
their actors with them, and ``broker.py`` declares the queues. Actors are named ``<queue>.<verb>``.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """One RabbitMQ queue per studio (each worker deployment scales on its own) plus webhooks."""

    create = "create"
    edit = "edit"
    upscale = "upscale"
    social = "social"
    control = "control"
    compress = "compress"
    webhooks = "webhooks"


CREATE_RUN_JOB = "create.run_job"
EDIT_RUN_JOB = "edit.run_job"
EDIT_POLL = "edit.poll"
UPSCALE_RUN_JOB = "upscale.run_job"
UPSCALE_POLL = "upscale.poll"
SOCIAL_RUN_JOB = "social.run_job"
CONTROL_RUN_JOB = "control.run_job"
CONTROL_POLL = "control.poll"
COMPRESS_RUN_JOB = "compress.run_job"
WEBHOOKS_DELIVER = "webhooks.deliver"

#: The actor that runs a job, by studio (the gateway and the outbox enqueue by name).
RUN_JOB_ACTORS: dict[str, str] = {
    Queue.create: CREATE_RUN_JOB,
    Queue.edit: EDIT_RUN_JOB,
    Queue.upscale: UPSCALE_RUN_JOB,
    Queue.social: SOCIAL_RUN_JOB,
    Queue.control: CONTROL_RUN_JOB,
    Queue.compress: COMPRESS_RUN_JOB,
}

#: The actor that polls a studio's asynchronous provider work, by studio (edit, upscale and control).
POLL_ACTORS: dict[str, str] = {
    Queue.edit: EDIT_POLL,
    Queue.upscale: UPSCALE_POLL,
    Queue.control: CONTROL_POLL,
}

#: Actors whose message carries a job to its end: when Dramatiq gives up on one, the job fails.
JOB_ACTORS: frozenset[str] = frozenset(RUN_JOB_ACTORS.values()) | frozenset(POLL_ACTORS.values())
