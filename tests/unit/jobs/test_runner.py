"""The job runner: idempotent redelivery, crash accounting, retries, cancellation."""

from __future__ import annotations

import threading

import pytest
from lease_support import expire_lease
from sqlalchemy import func, select
from support import Embedded, make_image, post_social, submit_social_job

from imagestudio.assets.models import Asset
from imagestudio.db import session_scope
from imagestudio.errors import StorageError, ValidationFailed
from imagestudio.jobs.models import Job
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.storage import get_store

API = "/api/image-studio"


class WorkerDied(BaseException):
    """Stands in for the process dying mid-job: nothing in run_job catches it."""


def new_job(stack: Embedded, *, max_attempts: int | None = None) -> tuple[str, str]:
    key, tenant_id = stack.new_tenant()
    return key, submit_social_job(tenant_id, max_attempts=max_attempts)


def job_row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def asset_count(job_id: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Asset).where(Asset.job_id == job_id)) or 0)


def writes(names: list[str], *, die_after: int | None = None):  # type: ignore[no-untyped-def]
    def handler(ctx: JobContext) -> None:
        for i, name in enumerate(names):
            ctx.add_output(name, f"data-{name}".encode(), ext="txt", content_type="text/plain", format="txt")
            if die_after is not None and i + 1 == die_after:
                raise WorkerDied

    return handler


def test_redelivered_message_after_crash_writes_outputs_once(embedded: Embedded) -> None:
    _, job_id = new_job(embedded)
    with pytest.raises(WorkerDied):
        run_job(job_id, writes(["a", "b", "c"], die_after=2))
    assert job_row(job_id).status == "running"  # the crash left it running, to be redelivered
    expire_lease(job_id)  # the dead worker renews it no more
    run_job(job_id, writes(["a", "b", "c"]))
    job = job_row(job_id)
    assert job.status == "succeeded" and job.attempts == 2
    assert asset_count(job_id) == 3
    store = get_store()
    with session_scope() as session:
        keys = session.scalars(select(Asset.key).where(Asset.job_id == job_id)).all()
    assert all(store.exists(k) for k in keys)
    # A duplicate delivery after success does nothing at all.
    run_job(job_id, writes(["x", "y"]))
    assert asset_count(job_id) == 3 and job_row(job_id).attempts == 2


def test_worker_lost_on_every_attempt_fails_with_reason(embedded: Embedded) -> None:
    _, job_id = new_job(embedded, max_attempts=2)
    for _ in range(2):
        with pytest.raises(WorkerDied):
            run_job(job_id, writes(["a"], die_after=1))
        expire_lease(job_id)
    run_job(job_id, writes(["a"]))
    job = job_row(job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error is not None and job.error["type"].endswith("/worker-lost")
    assert "2 times" in job.error["detail"]


def test_transient_error_retries_then_fails_after_last_attempt(embedded: Embedded) -> None:
    key, job_id = new_job(embedded)
    # The input object vanishes: every attempt fails with a (transient) storage error.
    get_store().delete(job_row(job_id).inputs["image"])
    embedded.start_worker()
    job = embedded.wait_job(key, job_id, timeout=60)
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert job["error"]["type"].endswith("/storage-unavailable") and job["error"]["attempts"] == 3


def test_permanent_error_fails_at_once(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagestudio.studios import social

    def refuse(ctx: JobContext) -> None:
        raise ValidationFailed("formats", "not today")

    monkeypatch.setattr(social, "run", refuse)
    key, job_id = new_job(embedded)
    embedded.start_worker()
    job = embedded.wait_job(key, job_id)
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["field"] == "formats" and job["error"]["status"] == 422


def test_cancel_while_running_stops_at_next_progress(embedded: Embedded) -> None:
    key, job_id = new_job(embedded)
    reached, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def slow(ctx: JobContext) -> None:
        ctx.progress(0.1, "first step")
        reached.set()
        release.wait(10)
        ctx.progress(0.5, "second step")
        outcome.append("kept going")

    runner = threading.Thread(target=run_job, args=(job_id, slow))
    runner.start()
    assert reached.wait(10)
    response = embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    release.set()
    runner.join(10)
    assert outcome == []
    assert job_row(job_id).status == "canceled"


def test_storage_failure_during_submit_leaves_no_job(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = get_store()

    def broken_put(*args: object, **kwargs: object) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(store, "put", broken_put)
    key = embedded.new_key()
    response = post_social(embedded, key, ("a.png", make_image(), "image/png"))
    assert response.status_code == 503 and response.json()["title"] == "Storage unavailable"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_job_failed_when_dramatiq_gives_up_on_its_message(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_claim(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database hiccup before the job could even be claimed")

    monkeypatch.setattr(job_service, "claim_lease", broken_claim)
    key, job_id = new_job(embedded)
    embedded.start_worker()
    job = embedded.wait_job(key, job_id, timeout=60)
    assert job["status"] == "failed"
    assert job["error"]["type"].endswith("/job-abandoned")
    assert "database hiccup" not in str(job["error"])  # the cause is in the logs, not the client's view


def test_abandoned_poll_message_fails_its_job(embedded: Embedded) -> None:
    import dramatiq
    from dramatiq.broker import MessageProxy

    from imagestudio.jobs.middleware import FailJobWhenMessageDies

    key, job_id = new_job(embedded)
    message = MessageProxy(
        dramatiq.Message(
            queue_name="edit",
            actor_name="edit.poll",
            args=(),
            kwargs={"job_id": job_id, "seq": 3},
            options={"retries": 5},
        )
    )
    message.fail()
    FailJobWhenMessageDies().after_process_message(
        embedded.broker, message, exception=RuntimeError("results store down")
    )
    job = job_row(job_id)
    assert job.status == "failed" and job.error is not None
    assert job.error["type"].endswith("/job-abandoned") and "results store down" not in str(job.error)
