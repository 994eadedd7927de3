"""Actors of the control studio: ``control.run_job``, and ``control.poll`` for WaveSpeed's asynchronous work."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import POLL_ACTORS, RUN_JOB_ACTORS, Studio
from imagestudio.studios import control
from imagestudio.studios.common import url_inputs
from imagestudio.studios.common.polling import poll_actor_options

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(control)


@actor(RUN_JOB_ACTORS[Studio.control], queue=Studio.control, **job_actor_options())
def run_control_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Run one control job; work submitted to an asynchronous provider is left to ``control.poll``."""
    run_job(job_id, _run)


@actor(POLL_ACTORS[Studio.control], queue=Studio.control, **poll_actor_options())
def poll_control_job(job_id: str, seq: int) -> None:
    """Poll a control job's provider work once; each poll is its own short delivery, re-staged until done."""
    control.poll(job_id, seq=seq)
