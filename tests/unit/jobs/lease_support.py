"""Helpers for tests that stand in for a worker dying while it holds a job's lease."""

from __future__ import annotations

from datetime import timedelta

from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job


def expire_lease(job_id: str, *, seconds_ago: float = 1.0) -> None:
    """The lease a dead worker left runs out (time passing, without waiting for it)."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.lease_until is not None
        job.lease_until = utcnow() - timedelta(seconds=seconds_ago)
