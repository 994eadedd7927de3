"""Uploads on PostgreSQL and the S3 server: presigned PUTs straight to the bucket, checked on first use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from support import Embedded, make_image
from uploads_support import API, auth, resolve, tenant_of

from imagestudio.db import session_scope, utcnow
from imagestudio.errors import ImageTooLarge, InvalidImage, ValidationFailed
from imagestudio.storage import get_store
from imagestudio.uploads.models import Upload
from imagestudio.uploads.service import SWEEP_GRACE_SECONDS, upload_service

pytestmark = pytest.mark.integration


def presign(stack: Embedded, key: str, content_type: str = "image/jpeg") -> dict[str, Any]:
    response = stack.client.post(
        f"{API}/uploads", headers=auth(key), json={"content_type": content_type, "bytes": 50_000}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_presigned_put_goes_straight_to_the_bucket_and_resolves(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    body = presign(pg_stack, key)
    assert body["state"] == "pending" and "X-Amz-Signature=" in body["put_url"]
    assert body["put_url"].startswith("http://127.0.0.1:")  # the bucket, not the gateway
    image = make_image(320, 200, "JPEG", quality=85)
    put = httpx.put(body["put_url"], content=image, headers={"Content-Type": "image/jpeg"}, timeout=10)
    assert put.status_code == 200, put.text

    resolved = resolve(tenant_of(key), body["id"])
    assert (resolved.info.format, resolved.info.width, resolved.info.height) == ("jpeg", 320, 200)
    assert resolved.ext == "jpg" and resolved.content_type == "image/jpeg"
    assert get_store().get(resolved.key) == image
    read = pg_stack.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert read["state"] == "ready" and read["width"] == 320 and read["bytes"] == len(image)


def test_presigned_upload_never_put_is_refused_naming_the_field(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    body = presign(pg_stack, key)
    with pytest.raises(ValidationFailed) as caught:
        resolve(tenant_of(key), body["id"], field="image")
    assert caught.value.status == 422 and caught.value.field == "image"
    assert "PUT" in caught.value.detail


def test_presigned_put_of_a_non_image_or_too_much_is_refused(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pg_stack.new_key()
    tenant_id = tenant_of(key)
    junk = presign(pg_stack, key, "image/png")
    assert httpx.put(junk["put_url"], content=b"<html>not an image</html>", timeout=10).status_code == 200
    with pytest.raises(InvalidImage) as caught:
        resolve(tenant_id, junk["id"], field="mask")
    assert caught.value.status == 422 and caught.value.field == "mask"

    # A presigned PUT does not bind the declared size: the object is measured before it is read.
    big = presign(pg_stack, key, "image/png")
    data = make_image(600, 600)
    assert httpx.put(big["put_url"], content=data, timeout=10).status_code == 200
    from imagestudio.config import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", len(data) - 1)
    with pytest.raises(ImageTooLarge) as too_big:
        resolve(tenant_id, big["id"], field="image")
    assert too_big.value.field == "image"


def test_multipart_upload_is_stored_in_the_bucket_and_swept_after_expiry(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    response = pg_stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", make_image(100, 50), "image/png")}
    )
    assert response.status_code == 201, response.text
    upload_id = response.json()["id"]
    storage_key = resolve(tenant_of(key), upload_id).key
    assert get_store().exists(storage_key)
    with session_scope() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=utcnow()))
    with session_scope() as session:
        assert upload_service.sweep(session, now=utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1)) >= 1
    assert not get_store().exists(storage_key)
    assert pg_stack.client.get(f"{API}/uploads/{upload_id}", headers=auth(key)).status_code == 404


# --- immutable once checked (S3: the link cannot be revoked, so what it writes later is a stray) --


def test_a_put_after_the_check_changes_nothing_a_job_reads_and_is_swept(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    tenant_id = tenant_of(key)
    body = presign(pg_stack, key, "image/png")
    small = make_image(200, 150)
    assert httpx.put(body["put_url"], content=small, timeout=10).status_code == 200
    checked = resolve(tenant_id, body["id"])
    assert "/incoming/" not in checked.key and get_store().get(checked.key) == small

    # The bucket still takes the PUT, but no job reads that key any more.
    assert httpx.put(body["put_url"], content=make_image(900, 900), timeout=10).status_code == 200
    upload_service._ready.clear()  # another replica, without the cache
    again = resolve(tenant_id, body["id"])
    assert again.key == checked.key and (again.info.width, again.info.height) == (200, 150)
    assert get_store().get(checked.key) == small

    incoming = f"tenants/{tenant_id}/uploads/incoming/{body['id']}.png"
    assert get_store().exists(incoming)
    with session_scope() as session:
        upload_service.sweep(session, now=utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1))
    assert not get_store().exists(incoming) and get_store().exists(checked.key)


def test_an_object_over_its_declared_size_is_refused_and_never_read_whole(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pg_stack.new_key()
    body = presign(pg_stack, key, "image/png")  # declares 50,000 bytes
    data = make_image(200, 150) + bytes(200_000)  # the S3 PUT binds no size
    assert httpx.put(body["put_url"], content=data, timeout=10).status_code == 200
    store = get_store()
    received: list[int] = []
    real_get = store.get

    def measuring_get(key: str, *, limit: int | None = None) -> bytes:
        answer = real_get(key, limit=limit)
        received.append(len(answer))
        return answer

    monkeypatch.setattr(store, "get", measuring_get)
    with pytest.raises(ImageTooLarge) as caught:
        resolve(tenant_of(key), body["id"], field="image")
    assert caught.value.field == "image" and "50,000 bytes declared" in caught.value.detail
    assert received == [50_001]  # a ranged GET: the bucket sent no more


def test_deleting_an_upload_removes_its_object_and_a_later_put_is_swept(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    tenant_id = tenant_of(key)
    body = presign(pg_stack, key, "image/png")
    assert httpx.put(body["put_url"], content=make_image(50, 50), timeout=10).status_code == 200
    assert pg_stack.client.delete(f"{API}/uploads/{body['id']}", headers=auth(key)).status_code == 204
    prefix = f"tenants/{tenant_id}/uploads/"
    assert [o.key for o in get_store().list(prefix)] == []
    assert httpx.put(body["put_url"], content=make_image(50, 50), timeout=10).status_code == 200
    assert len(list(get_store().list(prefix))) == 1
    with session_scope() as session:
        upload_service.sweep(session, now=utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1))
    assert list(get_store().list(prefix)) == []


def test_a_batch_naming_a_pending_upload_leaves_it_ready_on_postgresql(pg_stack: Embedded) -> None:
    """Drafting rolls each entry back; the check's mark is committed on its own, so it stays."""
    key = pg_stack.new_key()
    body = presign(pg_stack, key, "image/png")
    assert httpx.put(body["put_url"], content=make_image(160, 120), timeout=10).status_code == 200
    entry = {"studio": "social", "params": {"image": body["id"], "formats": ["instagram.story"]}}
    response = pg_stack.client.post(f"{API}/jobs/batch", headers=auth(key), json={"jobs": [entry, entry]})
    assert response.status_code == 200, response.text
    assert [e["status"] for e in response.json()["jobs"]] == [202, 202]
    ready = pg_stack.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert ready["state"] == "ready" and (ready["width"], ready["height"]) == (160, 120)


def test_a_job_whose_upload_object_changed_fails_image_changed_on_s3(pg_stack: Embedded) -> None:
    """Nothing a link writes reaches a job; should the checked object change anyway, the worker refuses it."""
    import upscale_worker.main  # noqa: F401  (declares upscale.run_job on the in-process broker)

    key = pg_stack.new_key()
    tenant_id = tenant_of(key)
    body = presign(pg_stack, key, "image/png")
    assert httpx.put(body["put_url"], content=make_image(200, 150), timeout=10).status_code == 200
    response = pg_stack.client.post(
        f"{API}/upscale", headers=auth(key), json={"image": body["id"], "mode": "fast", "path": "local"}
    )
    assert response.status_code == 202, response.text
    checked = resolve(tenant_id, body["id"]).key
    get_store().put(checked, make_image(900, 700), content_type="image/png")
    pg_stack.start_worker()
    try:
        job = pg_stack.wait_job(key, response.json()["id"])
    finally:
        assert pg_stack.worker is not None
        pg_stack.worker.stop()
        pg_stack.worker = None
    assert job["status"] == "failed" and job["outputs"] == []
    assert job["error"]["type"].endswith("/image-changed") and "900x700" in job["error"]["detail"]
