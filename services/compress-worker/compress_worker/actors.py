"""Actors of the compress studio."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import RUN_JOB_ACTORS, Studio
from imagestudio.studios import compress
from imagestudio.studios.common import url_inputs
from imagestudio.studios.compress import convert

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(compress, convert)


@actor(RUN_JOB_ACTORS[Studio.compress], queue=Studio.compress, **job_actor_options())
def run_compress_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Compress or convert one image; the message carries ids and object keys only."""
    run_job(job_id, _run)
