"""A redelivered job message (its worker was SIGKILLed) must not announce ``job.running`` again.

Found by the chaos suite (docs/chaos.md): each claim staged a new ``job.running`` delivery with a
new ``webhook-id``, so a receiver saw the same event several times and could not dedupe it.
"""

from __future__ import annotations

from sqlalchemy import select
from support import Embedded
from webhook_api import register, submit

from imagestudio.db import session_scope
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
        claimed = job_service.claim(session, job_id=job["id"])
        assert claimed is not None and claimed.attempts == 1
    with session_scope() as session:  # the same message again: the first worker died mid-job
        again = job_service.claim(session, job_id=job["id"])
        assert again is not None and again.attempts == 2 and again.status == "running"
    assert len(running_deliveries(job["id"])) == 1
