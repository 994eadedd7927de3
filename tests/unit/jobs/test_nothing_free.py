"""Nothing free: a canceled or failed job delivers nothing and is charged nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from support import Embedded, submit_social_job

from imagestudio.assets.models import Asset
from imagestudio.credits.models import CreditEntry, EntryKind
from imagestudio.db import session_scope
from imagestudio.errors import ValidationFailed
from imagestudio.jobs.models import Job
from imagestudio.jobs.runner import JobCanceled, JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.storage import get_store, output_key

API = "/api/image-studio"
NAMES = ["image-1", "image-2", "image-3", "image-4"]


def paid_job(stack: Embedded) -> tuple[str, str, str]:
    """A job holding 4 credits, one per output: (key, tenant id, job id)."""
    key, tenant_id = stack.new_tenant()
    return key, tenant_id, submit_social_job(tenant_id, cost=len(NAMES))


def write(ctx: JobContext, name: str) -> None:
    ctx.add_output(
        name,
        f"data-{name}".encode(),
        ext="txt",
        content_type="text/plain",
        format="txt",
        metadata={"credits": 1},
    )


def keys_of(tenant_id: str, job_id: str) -> list[str]:
    return [output_key(tenant_id, job_id, name, "txt") for name in NAMES]


def asset_count(job_id: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Asset).where(Asset.job_id == job_id)) or 0)


def captured(tenant_id: str) -> int:
    with session_scope() as session:
        return -int(
            session.scalar(
                select(func.coalesce(func.sum(CreditEntry.balance_delta), 0)).where(
                    CreditEntry.tenant_id == tenant_id, CreditEntry.kind == EntryKind.capture
                )
            )
            or 0
        )


def assert_withdrawn(stack: Embedded, key: str, tenant_id: str, job_id: str, links: list[str]) -> None:
    """No row, no object, no link, no charge, nothing held."""
    auth = {"Authorization": f"Bearer {key}"}
    assert stack.client.get(f"{API}/jobs/{job_id}", headers=auth).json()["outputs"] == []
    assert asset_count(job_id) == 0
    store = get_store()
    assert not any(store.exists(k) for k in keys_of(tenant_id, job_id))
    for link in links:
        response = stack.client.get(link)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert captured(tenant_id) == 0
    with session_scope() as session:
        from imagestudio.credits.service import credit_service

        assert credit_service.balance(session, tenant_id=tenant_id).reserved == 0


def test_cancel_mid_run_withdraws_what_was_written_and_stops_the_next_write(embedded: Embedded) -> None:
    key, tenant_id, job_id = paid_job(embedded)
    auth = {"Authorization": f"Bearer {key}"}
    reached, release = threading.Event(), threading.Event()
    attempted: list[str] = []

    def handler(ctx: JobContext) -> None:
        for i, name in enumerate(NAMES):
            attempted.append(name)
            write(ctx, name)  # no progress call in between: the output write itself must stop
            if i == 1:
                reached.set()
                release.wait(10)

    runner = threading.Thread(target=run_job, args=(job_id, handler))
    runner.start()
    assert reached.wait(10)
    running = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth).json()
    links = [output["url"] for output in running["outputs"]]
    assert len(links) == 2 and embedded.client.get(links[0]).status_code == 200  # served while running
    assert embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers=auth).status_code == 200
    release.set()
    runner.join(10)
    assert not runner.is_alive()
    assert attempted == NAMES[:3]  # the third write was refused; the fourth never tried
    assert_withdrawn(embedded, key, tenant_id, job_id, links)
    with session_scope() as session:
        assert session.get(Job, job_id).status == "canceled"  # type: ignore[union-attr]


def test_failure_after_the_first_output_withdraws_it(embedded: Embedded) -> None:
    key, tenant_id, job_id = paid_job(embedded)
    links: list[str] = []

    def handler(ctx: JobContext) -> None:
        write(ctx, NAMES[0])
        body = embedded.client.get(f"{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
        links.extend(output["url"] for output in body["outputs"])
        raise ValidationFailed("formats", "the second format cannot be made")

    run_job(job_id, handler)
    assert len(links) == 1
    with session_scope() as session:
        assert session.get(Job, job_id).status == "failed"  # type: ignore[union-attr]
    assert_withdrawn(embedded, key, tenant_id, job_id, links)


def test_output_written_after_cancel_is_refused_and_its_object_deleted(embedded: Embedded) -> None:
    key, tenant_id, job_id = paid_job(embedded)
    with session_scope() as session:
        job = job_service.claim_lease(session, job_id=job_id, owner="test-host:1:run").job
        assert job is not None
        ctx = JobContext.for_job(job, lease_owner="test-host:1:run")
    write(ctx, NAMES[0])
    embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"})
    with pytest.raises(JobCanceled):
        write(ctx, NAMES[1])  # a worker that has not called progress since the cancel
    assert ctx.outputs_written == [NAMES[0]]
    assert_withdrawn(embedded, key, tenant_id, job_id, [])


def test_succeeded_job_charges_exactly_what_it_serves(embedded: Embedded) -> None:
    key, tenant_id, job_id = paid_job(embedded)
    run_job(job_id, lambda ctx: [write(ctx, name) for name in NAMES[:3]] and None)
    body = embedded.client.get(f"{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["status"] == "succeeded" and len(body["outputs"]) == 3
    assert all(embedded.client.get(o["url"]).status_code == 200 for o in body["outputs"])
    assert captured(tenant_id) == 3
