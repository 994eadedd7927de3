"""Actors of the create studio."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import RUN_JOB_ACTORS, Studio
from imagestudio.studios import create
from imagestudio.studios.common import url_inputs

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(create)


@actor(RUN_JOB_ACTORS[Studio.create], queue=Studio.create, **job_actor_options())
def run_create_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Make one create job's images on the providers; the message carries the job id only."""
    run_job(job_id, _run)
