"""Actors of the social studio."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import RUN_JOB_ACTORS, Studio
from imagestudio.studios import social
from imagestudio.studios.common import url_inputs

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(social, social.plan_studio)


@actor(RUN_JOB_ACTORS[Studio.social], queue=Studio.social, **job_actor_options())
def run_social_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Render one social job; the message carries ids and object keys only."""
    run_job(job_id, _run)
