"""A queued job's place in its studio's queue and wait estimate; a start deadline ending it expired."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from support import Embedded, make_image, post_social, submit_social_job

from imagestudio.credits.models import CreditAccount
from imagestudio.db import session_scope, utcnow
from imagestudio.egress import EgressGuard
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.jobs.recovery import job_recovery
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.webhooks.models import WebhookDelivery
from imagestudio.webhooks.service import webhook_service

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def job_row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def set_job(job_id: str, **values: object) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        for name, value in values.items():
            setattr(job, name, value)


def account(tenant_id: str) -> tuple[int, int]:
    """(reserved credits, active jobs) of the tenant."""
    with session_scope() as session:
        row = session.get(CreditAccount, tenant_id)
        assert row is not None
        return row.reserved, row.active_jobs


def deliveries(job_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(select(WebhookDelivery.event_type).where(WebhookDelivery.job_id == job_id))
        )


def events(job_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(select(JobEvent.type).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
        )


@pytest.fixture
def public_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook hosts resolve to a public address (nothing connects to it: deliveries stay staged)."""
    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(webhook_service.endpoints, "guard", lambda: guard)


def submit_with_deadline(stack: Embedded, key: str, deadline: object) -> dict[str, object]:
    response = post_social(
        stack, key, platforms="youtube", webhook_url="https://hooks.example/job", start_deadline=str(deadline)
    )
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


def test_queue_position_counts_the_queued_jobs_of_its_studio_created_before_it(embedded: Embedded) -> None:
    key, tenant_id = embedded.new_tenant()
    ids = [submit_social_job(tenant_id) for _ in range(4)]
    first = embedded.client.get(f"{API}/jobs/{ids[0]}", headers=auth(key)).json()
    last = embedded.client.get(f"{API}/jobs/{ids[3]}", headers=auth(key)).json()
    assert first["queue_position"] == 0 and last["queue_position"] == 3
    # Nothing of the studio started lately: no estimate.
    assert last["estimated_start_seconds"] is None

    set_job(ids[0], status="running", started_at=utcnow())
    set_job(ids[1], status="succeeded", started_at=utcnow() - timedelta(seconds=5))
    body = embedded.client.get(f"{API}/jobs/{ids[3]}", headers=auth(key)).json()
    assert body["queue_position"] == 1  # only ids[2] is still queued ahead
    # Two starts in the 600 s window: one every 300 s; one ahead plus its own start.
    assert body["estimated_start_seconds"] == pytest.approx(600.0)
    running = embedded.client.get(f"{API}/jobs/{ids[0]}", headers=auth(key)).json()
    assert running["queue_position"] is None and running["estimated_start_seconds"] is None


def test_the_event_stream_sends_a_queued_jobs_place_until_it_leaves_the_queue(embedded: Embedded) -> None:
    key, tenant_id = embedded.new_tenant()
    submit_social_job(tenant_id)  # one ahead
    job_id = submit_social_job(tenant_id)
    frames: list[str] = []
    with embedded.client.stream("GET", f"{API}/jobs/{job_id}/events", headers=auth(key)) as stream:
        for line in stream.iter_lines():
            frames.append(line)
            if line.startswith("data: ") and '"queue_position"' in line and len(frames) < 100:
                # Seen while queued; canceling ends the stream with the job's terminal event.
                with session_scope() as session:
                    job_service.cancel(session, tenant_id=tenant_id, job_id=job_id)
    place = frames.index("event: job.queue")
    assert json.loads(frames[place + 1].removeprefix("data: ")) == {
        "job_id": job_id,
        "queue_position": 1,
        "estimated_start_seconds": None,
    }
    assert "event: job.canceled" in frames and frames.count("event: job.queue") == 1


def test_a_deadline_passed_behind_a_blocked_queue_ends_the_job_expired_at_the_sweep(
    embedded: Embedded, public_webhooks: None
) -> None:
    key, tenant_id = embedded.new_tenant()
    reserved_before, _ = account(tenant_id)
    blocker = submit_social_job(tenant_id)  # ahead in the queue; no worker runs: the queue is blocked
    body = submit_with_deadline(embedded, key, 1)
    job_id = str(body["id"])
    assert body["start_deadline"] is not None
    assert account(tenant_id)[1] == 2

    with session_scope() as session:
        result = job_recovery.sweep(session, now=utcnow() + timedelta(seconds=2))
    assert result.expired == 1
    job = job_row(job_id)
    assert job.status == "expired" and job.finished_at is not None
    assert job_row(blocker).status == "queued"  # no deadline: left alone
    assert account(tenant_id) == (reserved_before, 1)  # its slot freed, nothing held for it
    assert events(job_id)[-1] == "job.expired"
    assert deliveries(job_id) == ["job.queued", "job.expired"]
    read = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key)).json()
    assert read["status"] == "expired" and read["queue_position"] is None


def test_a_worker_claiming_a_job_past_its_deadline_ends_it_expired_without_running_it(
    embedded: Embedded, public_webhooks: None
) -> None:
    key, tenant_id = embedded.new_tenant()
    job_id = str(submit_with_deadline(embedded, key, 60)["id"])
    set_job(job_id, start_deadline=utcnow() - timedelta(seconds=1))  # the minute went by in the queue
    ran: list[str] = []

    def handler(ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    run_job(job_id, handler)
    assert ran == []
    job = job_row(job_id)
    assert job.status == "expired" and job.attempts == 0 and job.started_at is None
    assert account(tenant_id)[1] == 0
    assert deliveries(job_id) == ["job.queued", "job.expired"]


def test_a_job_started_before_its_deadline_runs(embedded: Embedded, public_webhooks: None) -> None:
    key, tenant_id = embedded.new_tenant()
    job_id = str(submit_with_deadline(embedded, key, 3600)["id"])
    ran: list[str] = []

    def handler(ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    run_job(job_id, handler)
    assert ran == [job_id] and job_row(job_id).status == "succeeded"


@pytest.mark.parametrize(
    ("deadline", "why"),
    [
        ("2020-01-01T00:00:00Z", "in the future"),
        ("0", "between 1 and 86400"),
        ("86401", "between 1 and 86400"),
        ("soon", "start_deadline"),
    ],
)
def test_a_bad_start_deadline_is_a_422_naming_the_field(embedded: Embedded, deadline: str, why: str) -> None:
    key = embedded.new_key()
    response = post_social(embedded, key, platforms="youtube", start_deadline=deadline)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "start_deadline" in response.text and why in response.text


def test_a_timestamp_deadline_in_a_json_body_is_stored_on_the_job(embedded: Embedded) -> None:
    key = embedded.new_key()
    upload = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", make_image(64, 48), "image/png")}
    )
    assert upload.status_code == 201, upload.text
    deadline = (utcnow() + timedelta(minutes=5)).replace(microsecond=0)
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        json={"image": upload.json()["id"], "platforms": ["youtube"], "start_deadline": deadline.isoformat()},
    )
    assert response.status_code == 202, response.text
    assert job_row(response.json()["id"]).start_deadline == deadline
