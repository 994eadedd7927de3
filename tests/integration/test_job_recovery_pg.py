"""The job sweeper on PostgreSQL: sweepers running at once re-stage each lost job once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support import Embedded, submit_social_job

from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.jobs.recovery import SweepResult, job_recovery
from imagestudio.outbox import OutboxMessage

pytestmark = pytest.mark.integration


def queued_job(stack: Embedded) -> str:
    _, tenant_id = stack.new_tenant()
    return submit_social_job(tenant_id)


def test_two_sweepers_at_once_restage_each_lost_job_once(pg_stack: Embedded) -> None:
    job_ids = [queued_job(pg_stack) for _ in range(12)]
    with session_scope() as session:  # published, then lost by the broker (a purged queue)
        session.execute(
            update(OutboxMessage).where(OutboxMessage.published_at.is_(None)).values(published_at=utcnow())
        )
    later = utcnow() + timedelta(hours=1)
    start = threading.Barrier(2)
    results: list[SweepResult] = []

    def sweeper() -> None:
        start.wait(10)
        with session_scope() as session:
            results.append(job_recovery.sweep(session, now=later))

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and sum(r.restaged for r in results) >= len(job_ids)
    with session_scope() as session:
        restages = dict(session.execute(select(Job.id, Job.restages).where(Job.id.in_(job_ids))).all())
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.actor_name == "social.run_job")
        ).all()
    assert restages == {job_id: 1 for job_id in job_ids}
    per_job = {job_id: sum(1 for row in rows if row.kwargs.get("job_id") == job_id) for job_id in job_ids}
    assert per_job == {job_id: 2 for job_id in job_ids}  # the original message and one re-stage
