"""Actors of the upscale studio: ``upscale.run_job``, and ``upscale.poll`` for creative upscales."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import POLL_ACTORS, RUN_JOB_ACTORS, Studio
from imagestudio.studios import upscale
from imagestudio.studios.common import url_inputs
from imagestudio.studios.common.polling import poll_actor_options

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(upscale)


@actor(RUN_JOB_ACTORS[Studio.upscale], queue=Studio.upscale, **job_actor_options())
def run_upscale_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Run one upscale job; a creative one submits and leaves the wait to ``upscale.poll``."""
    run_job(job_id, _run)


@actor(POLL_ACTORS[Studio.upscale], queue=Studio.upscale, **poll_actor_options())
def poll_upscale_job(job_id: str, seq: int) -> None:
    """Poll a creative upscale once; each poll is its own short delivery, re-staged until done."""
    upscale.poll(job_id, seq=seq)
