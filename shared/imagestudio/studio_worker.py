"""A studio's Dramatiq worker, built from the studio registry: what every ``services/<studio>-worker`` runs.

Each worker package's ``main`` is one call, ``run_studio_worker(Studio.compress)``: the broker is
configured with the job middleware handed in (the broker, a lower layer, never reaches up for the jobs
service), then the studio's actors are declared on it: ``<studio>.run_job`` for every route whose jobs
the studio runs (``compress`` and ``convert``), prepared first from fetched images when given by URL,
and ``<studio>.poll`` when the studio's face has ``poll`` (asynchronous provider work). So a new studio
needs no actor code: its face in ``studios/<name>/`` is the whole of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from imagestudio.broker import actor, configure_broker
from imagestudio.jobs.middleware import FailJobWhenMessageDies
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import POLL_ACTORS, RUN_JOB_ACTORS, Studio
from imagestudio.studios.common import url_inputs
from imagestudio.studios.common.polling import poll_actor_options
from imagestudio.studios.registry import STUDIOS, polls, routes_of


@dataclass(frozen=True)
class StudioActors:
    """The actors one studio's worker declares."""

    run_job: Callable[..., None]
    poll: Callable[..., None] | None


@functools.cache
def declare_actors(studio: Studio) -> StudioActors:
    """Declare ``studio``'s actors on the process's broker, once (a later call returns the same ones)."""
    handler = url_inputs.handler(*routes_of(studio))

    def run_studio_job(
        job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None
    ) -> None:
        """Run one job of the studio; the message carries ids and object keys only."""
        run_job(job_id, handler)

    run_studio_job.__name__ = f"run_{studio}_job"
    declared = actor(RUN_JOB_ACTORS[studio], queue=studio, **job_actor_options())(run_studio_job)
    if not polls(studio):
        return StudioActors(run_job=declared, poll=None)
    poll = getattr(STUDIOS[studio], "poll")  # noqa: B009  (optional on the face; polls() checked it)

    def poll_studio_job(job_id: str, seq: int) -> None:
        """Poll a job's provider work once; each poll is its own short delivery, re-staged until done."""
        poll(job_id, seq=seq)

    poll_studio_job.__name__ = f"poll_{studio}_job"
    return StudioActors(
        run_job=declared,
        poll=actor(POLL_ACTORS[studio], queue=studio, **poll_actor_options())(poll_studio_job),
    )


def run_studio_worker(studio: Studio) -> list[str]:
    """Configure the broker (first call wins), declare ``studio``'s actors on it; the queues to consume."""
    configure_broker(middleware=[FailJobWhenMessageDies()])
    declare_actors(studio)
    return [studio.value]
