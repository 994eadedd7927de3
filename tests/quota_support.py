"""Storage quota and asset retention scenarios, run on the embedded stack and on PostgreSQL + S3."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from support import Embedded, make_image, submit_social_job

from imagestudio.assets.models import Asset
from imagestudio.assets.sweeper import sweep_expired_assets
from imagestudio.config import get_settings
from imagestudio.credits.service import credit_service
from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.outbox import OutboxMessage
from imagestudio.quota.service import storage_quota_service
from imagestudio.storage import get_store
from imagestudio.tenants.service import tenant_service
from imagestudio.uploads.models import Upload

API = "/api/image-studio"
QUOTA_PROBLEM = "https://imagestudio.dev/problems/storage-quota-exceeded"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def set_quota(tenant_id: str, quota: int) -> None:
    with session_scope() as session:
        tenant_service.set_limits(session, tenant_id=tenant_id, max_stored_bytes=quota)


def used(tenant_id: str) -> int:
    with session_scope() as session:
        return storage_quota_service.used(session, tenant_id=tenant_id)


def stored_by_rows(tenant_id: str) -> int:
    """What the counter must equal: the bytes of the tenant's upload and asset rows."""
    with session_scope() as session:
        uploads = session.scalar(
            select(func.coalesce(func.sum(Upload.bytes), 0)).where(Upload.tenant_id == tenant_id)
        )
        assets = session.scalar(
            select(func.coalesce(func.sum(Asset.bytes), 0)).where(Asset.tenant_id == tenant_id)
        )
        return int(uploads or 0) + int(assets or 0)


def assert_counted(tenant_id: str, expected: int) -> None:
    assert used(tenant_id) == expected == stored_by_rows(tenant_id)


def count(model: Any, tenant_id: str) -> int:
    with session_scope() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id)) or 0
        )


def upload(stack: Embedded, key: str, data: bytes) -> Any:
    return stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", data, "image/png")}
    )


def puts_recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key written to the store from now on (either backend)."""
    store = get_store()
    written: list[str] = []
    real_put = store.put

    def put(key: str, data: bytes, *, content_type: str) -> None:
        written.append(key)
        real_put(key, data, content_type=content_type)

    monkeypatch.setattr(store, "put", put)
    return written


def assert_quota_problem(body: dict[str, Any], *, used_bytes: int, quota: int) -> None:
    assert body["type"] == QUOTA_PROBLEM and body["status"] == 422, body
    assert body["limit"] == "max_stored_bytes"
    assert body["used_bytes"] == used_bytes and body["quota_bytes"] == quota
    assert str(quota) in body["detail"] and str(used_bytes) in body["detail"]


# --- (a) the quota -----------------------------------------------------------------------------


def upload_past_the_quota_is_refused(stack: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    key, tenant_id = stack.new_tenant()
    first, second = make_image(120, 90), make_image(200, 150)
    set_quota(tenant_id, len(first) + len(second) - 1)
    created = upload(stack, key, first)
    assert created.status_code == 201, created.text
    assert_counted(tenant_id, len(first))
    credits = stack.client.get(f"{API}/credits", headers=auth(key)).json()
    assert (credits["stored_bytes"], credits["max_stored_bytes"]) == (
        len(first),
        len(first) + len(second) - 1,
    )

    written = puts_recorded(monkeypatch)
    refused = upload(stack, key, second)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert_quota_problem(refused.json(), used_bytes=len(first), quota=len(first) + len(second) - 1)
    assert refused.json()["requested_bytes"] == len(second)
    # A presigned upload reserves its declared size: past the quota, no link is handed out.
    presign = stack.client.post(
        f"{API}/uploads", headers=auth(key), json={"content_type": "image/png", "bytes": len(second)}
    )
    assert presign.status_code == 422, presign.text
    assert written == [] and count(Upload, tenant_id) == 1
    assert_counted(tenant_id, len(first))

    # Deleting the upload frees its bytes: the second fits now.
    assert stack.client.delete(f"{API}/uploads/{created.json()['id']}", headers=auth(key)).status_code == 204
    assert_counted(tenant_id, 0)
    assert upload(stack, key, second).status_code == 201
    assert_counted(tenant_id, len(second))


def presigned_upload_counts_its_declared_size_until_swept(stack: Embedded, _: pytest.MonkeyPatch) -> None:
    key, tenant_id = stack.new_tenant()
    presign = stack.client.post(
        f"{API}/uploads", headers=auth(key), json={"content_type": "image/png", "bytes": 5000}
    )
    assert presign.status_code == 201, presign.text
    assert_counted(tenant_id, 5000)
    from imagestudio.uploads.service import SWEEP_GRACE_SECONDS, upload_service

    with session_scope() as session:
        upload_service.sweep(
            session,
            now=utcnow() + timedelta(seconds=get_settings().upload_ttl_seconds + SWEEP_GRACE_SECONDS + 1),
        )
    assert count(Upload, tenant_id) == 0
    assert_counted(tenant_id, 0)


def submission_at_the_quota_is_refused_before_anything_is_stored(
    stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, tenant_id = stack.new_tenant()
    image = make_image(160, 120)
    set_quota(tenant_id, len(image))
    created = upload(stack, key, image)
    assert created.status_code == 201, created.text
    assert_counted(tenant_id, len(image))  # the tenant is at its quota now
    before = stack.client.get(f"{API}/credits", headers=auth(key)).json()

    written = puts_recorded(monkeypatch)
    by_id = stack.client.post(
        f"{API}/compress",
        headers=auth(key),
        json={"image": created.json()["id"], "format": "webp", "quality": 80},
    )
    assert by_id.status_code == 422, by_id.text
    assert_quota_problem(by_id.json(), used_bytes=len(image), quota=len(image))
    multipart = stack.client.post(
        f"{API}/compress",
        headers=auth(key),
        files={"image": ("a.png", image, "image/png")},
        data={"format": "webp", "quality": "80"},
    )
    assert multipart.status_code == 422, multipart.text
    assert_quota_problem(multipart.json(), used_bytes=len(image), quota=len(image))
    # The form's file was stored for the job and deleted again when the job was refused (as a
    # 402 or 429 does): nothing the refused submissions wrote is left, no job, nothing queued.
    store = get_store()
    assert not any(store.exists(key) for key in written)
    assert count(Job, tenant_id) == 0
    with session_scope() as session:
        # Nothing staged for this tenant's jobs (other tests' rows share the database).
        staged = session.scalars(select(OutboxMessage.kwargs)).all()
        assert not [k for k in staged if isinstance(k, dict) and k.get("tenant_id") == tenant_id]
    after = stack.client.get(f"{API}/credits", headers=auth(key)).json()
    assert (after["balance"], after["reserved"]) == (before["balance"], before["reserved"])


def paid_job_whose_output_passes_the_quota_fails_and_releases_its_credits(
    stack: Embedded, _: pytest.MonkeyPatch
) -> None:
    key, tenant_id = stack.new_tenant()
    set_quota(tenant_id, 3000)
    job_id = submit_social_job(tenant_id, cost=5)
    with session_scope() as session:
        held = credit_service.balance(session, tenant_id=tenant_id)
    assert held.reserved == 5

    def handler(ctx: JobContext) -> None:
        ctx.add_output("small", b"s" * 1000, ext="bin", content_type="application/octet-stream", format="bin")
        ctx.add_output("large", b"l" * 2500, ext="bin", content_type="application/octet-stream", format="bin")

    run_job(job_id, handler)
    job = stack.wait_job(key, job_id)
    assert job["status"] == "failed" and job["outputs"] == []
    error = job["error"]
    assert error["type"] == QUOTA_PROBLEM and error["status"] == 422 and error["limit"] == "max_stored_bytes"
    assert error["used_bytes"] == 1000 and error["requested_bytes"] == 2500 and error["quota_bytes"] == 3000
    with session_scope() as session:
        after = credit_service.balance(session, tenant_id=tenant_id)
    assert after.reserved == 0 and after.balance == held.balance  # released, nothing captured
    assert count(Asset, tenant_id) == 0
    assert_counted(tenant_id, 0)  # the withdrawn output freed its bytes
    store = get_store()
    assert not store.exists(f"tenants/{tenant_id}/jobs/{job_id}/outputs/small.bin")
    assert not store.exists(f"tenants/{tenant_id}/jobs/{job_id}/outputs/large.bin")


# --- (b) retention ------------------------------------------------------------------------------


def writes(*names: str, size: int = 700, then: BaseException | None = None):  # type: ignore[no-untyped-def]
    def handler(ctx: JobContext) -> None:
        for name in names:
            ctx.add_output(
                name,
                name.encode()[:1] * size,
                ext="bin",
                content_type="application/octet-stream",
                format="bin",
            )
        if then is not None:
            raise then

    return handler


class Stop(BaseException):
    """Leaves a job running (as a worker that died mid-job would)."""


def age_assets(tenant_id: str, seconds: float) -> None:
    with session_scope() as session:
        session.execute(
            update(Asset)
            .where(Asset.tenant_id == tenant_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )


def sweeper_deletes_expired_assets_and_frees_the_quota(stack: Embedded, _: pytest.MonkeyPatch) -> None:
    key, tenant_id = stack.new_tenant()
    done = submit_social_job(tenant_id)
    run_job(done, writes("a", "b", "c"))
    running = submit_social_job(tenant_id)
    with pytest.raises(Stop):
        run_job(running, writes("partial", then=Stop()))
    assert_counted(tenant_id, 4 * 700)
    with session_scope() as session:
        assets = {
            a.name: (a.id, a.key) for a in session.scalars(select(Asset).where(Asset.tenant_id == tenant_id))
        }
    favourite_id, favourite_key = assets["b"]
    assert (
        stack.client.patch(
            f"{API}/assets/{favourite_id}", headers=auth(key), json={"favorite": True}
        ).status_code
        == 200
    )
    # A queued job reads asset ``c``'s object: it is spared until that job ends.
    reader = submit_social_job(tenant_id, inputs={"image": assets["c"][1]})

    retention = get_settings().asset_retention_seconds
    age_assets(tenant_id, retention - 60)  # not yet due
    with session_scope() as session:
        assert sweep_expired_assets(session) == 0
    age_assets(tenant_id, retention + 1)
    with session_scope() as session:
        assert sweep_expired_assets(session) == 1  # ``a`` only
    store = get_store()
    assert not store.exists(assets["a"][1])
    assert all(store.exists(assets[name][1]) for name in ("b", "c", "partial"))
    assert_counted(tenant_id, 3 * 700)

    # Once the reader ended, ``c`` goes; the favourite stays, and the running job's output too.
    with session_scope() as session:
        job_service.cancel(session, tenant_id=tenant_id, job_id=reader)
    with session_scope() as session:
        assert sweep_expired_assets(session) == 1
        names = set(session.scalars(select(Asset.name).where(Asset.tenant_id == tenant_id)))
    assert names == {"b", "partial"}
    assert not store.exists(assets["c"][1]) and store.exists(favourite_key)
    assert_counted(tenant_id, 2 * 700)
    gone = stack.client.get(f"{API}/assets/{assets['a'][0]}", headers=auth(key))
    assert gone.status_code == 404
    with session_scope() as session:  # the job left running ends: other tests share the database
        job_service.cancel(session, tenant_id=tenant_id, job_id=running)


def batch_at_the_quota_refuses_every_entry(stack: Embedded, _: pytest.MonkeyPatch) -> None:
    key, tenant_id = stack.new_tenant()
    image = make_image(160, 120)
    set_quota(tenant_id, len(image))
    created = upload(stack, key, image)
    assert created.status_code == 201, created.text
    entry = {"studio": "social", "params": {"image": created.json()["id"], "formats": ["instagram.story"]}}
    response = stack.client.post(f"{API}/jobs/batch", headers=auth(key), json={"jobs": [entry, entry]})
    assert response.status_code == 200, response.text
    entries = response.json()["jobs"]
    assert [e["status"] for e in entries] == [422, 422]
    for e in entries:
        assert_quota_problem(e["problem"], used_bytes=len(image), quota=len(image))
    assert count(Job, tenant_id) == 0


#: The scenarios both stacks run, each given the stack and the test's monkeypatch (which some use to
#: change settings or record the store's writes); a test parametrised over them checks every one.
SCENARIOS: list[Callable[[Embedded, pytest.MonkeyPatch], None]] = [
    upload_past_the_quota_is_refused,
    presigned_upload_counts_its_declared_size_until_swept,
    submission_at_the_quota_is_refused_before_anything_is_stored,
    batch_at_the_quota_refuses_every_entry,
    paid_job_whose_output_passes_the_quota_fails_and_releases_its_credits,
    sweeper_deletes_expired_assets_and_frees_the_quota,
]


def scenario_test(stack_fixture: str) -> Callable[..., None]:
    """The test that runs every scenario on the stack the fixture ``stack_fixture`` gives (a module
    binds it to a ``test_`` name)."""

    @pytest.mark.parametrize("run", SCENARIOS, ids=lambda run: run.__name__)
    def test_storage_quota_scenario(
        run: Callable[[Embedded, pytest.MonkeyPatch], None],
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        run(request.getfixturevalue(stack_fixture), monkeypatch)

    return test_storage_quota_scenario
