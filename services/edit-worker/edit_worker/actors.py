"""Actors of the edit studio: ``edit.run_job``, and ``edit.poll`` for asynchronous provider work."""

from __future__ import annotations

from typing import Any

from imagestudio.broker import actor
from imagestudio.jobs.runner import job_actor_options, run_job
from imagestudio.messaging import POLL_ACTORS, RUN_JOB_ACTORS, Studio
from imagestudio.studios import edit
from imagestudio.studios.common import url_inputs
from imagestudio.studios.common.polling import poll_actor_options

#: A job as its studio runs it, prepared first from its fetched images when given them by URL.
_run = url_inputs.handler(edit)


@actor(RUN_JOB_ACTORS[Studio.edit], queue=Studio.edit, **job_actor_options())
def run_edit_job(job_id: str, inputs: dict[str, Any] | None = None, tenant_id: str | None = None) -> None:
    """Run one edit job on its planned route (provider, or the local path); the message carries ids only."""
    run_job(job_id, _run)


@actor(POLL_ACTORS[Studio.edit], queue=Studio.edit, **poll_actor_options())
def poll_edit_job(job_id: str, seq: int) -> None:
    """Poll an edit job's asynchronous provider work once (relight, general edit); re-staged until done."""
    edit.poll(job_id, seq=seq)
