"""A redelivered job message (its worker was SIGKILLed) must not announce ``job.running`` again.

Found by the chaos suite (docs/chaos.md): each claim staged a new ``job.running`` delivery with a
new ``webhook-id``, so a receiver saw the same event several times and could not dedupe it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from support import Embedded
from webhook_api import register, submit

from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.jobs.service import job_service
from imagestudio.webhooks.models import WebhookDelivery


def running_deliveries(job_id: str) -> list[WebhookDelivery]:
    with session_scope() as session:
        rows = session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.job_id == job_id, WebhookDelivery.event_type == "job.running"
            )
        ).all()
        session.expunge_all()
        return list(rows)


def test_a_redelivered_claim_stages_job_running_once(hooks: Embedded) -> None:
    key = hooks.new_key()
    register(hooks, key, "http://127.0.0.1:9/hook")
    job = submit(hooks, key)
    with session_scope() as session:
        claimed = job_service.claim_lease(session, job_id=job["id"], owner="first-host:1:run").job
        assert claimed is not None and claimed.attempts == 1
    with session_scope() as session:  # the first worker died mid-job: its lease runs out
        session.execute(
            update(Job).where(Job.id == job["id"]).values(lease_until=utcnow() - timedelta(seconds=1))
        )
    with session_scope() as session:  # the same message again, taken over by another worker
        again = job_service.claim_lease(session, job_id=job["id"], owner="second-host:1:run").job
        assert again is not None and again.attempts == 2 and again.status == "running"
    assert len(running_deliveries(job["id"])) == 1
