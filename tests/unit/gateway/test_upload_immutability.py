"""Uploads are immutable once checked (embedded mode, local store).

A presigned PUT link writes only until its upload is first checked; the bytes checked are copied
to a key no link writes; the worker reads at most the byte limit and holds every input to the
size the gateway checked (``image-changed`` otherwise); no object outlives its upload row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pyvips  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select
from support import Embedded, make_image
from uploads_support import API, auth, resolve, tenant_of

from imagestudio.config import get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.storage import get_store
from imagestudio.uploads.models import Upload
from imagestudio.uploads.service import SWEEP_GRACE_SECONDS, upload_service


def presign(stack: Embedded, key: str, *, content_type: str = "image/png", size: int = 500_000) -> Any:
    response = stack.client.post(
        f"{API}/uploads", headers=auth(key), json={"content_type": content_type, "bytes": size}
    )
    assert response.status_code == 201, response.text
    return response.json()


def put(stack: Embedded, url: str, data: bytes) -> int:
    return stack.client.put(url.removeprefix("http://testserver"), content=data).status_code


def flat_png(width: int, height: int) -> bytes:
    """A large, flat PNG that compresses to little (the issue's 12000x12000 was 447 KB)."""
    return bytes(pyvips.Image.black(width, height).pngsave_buffer(compression=9))


def row(upload_id: str) -> Upload:
    with session_scope() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        return upload


def objects(stack: Embedded, tenant_id: str) -> set[str]:
    return {o.key for o in get_store().list(f"tenants/{tenant_id}/uploads/")}


def read_limits(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The ``limit`` of every read from the store from now on, in order."""
    store = get_store()
    reads: list[int | None] = []
    real_get = store.get

    def spying_get(key: str, *, limit: int | None = None) -> bytes:
        reads.append(limit)
        return real_get(key, limit=limit)

    monkeypatch.setattr(store, "get", spying_get)
    return reads


@pytest.fixture
def workers(embedded: Embedded) -> Iterator[Embedded]:
    """The embedded stack with the upscale and edit actors declared; start the worker when ready."""
    import edit_worker.main  # noqa: F401
    import upscale_worker.main  # noqa: F401

    yield embedded
    if embedded.worker is not None:
        embedded.worker.stop()
        embedded.worker = None


def test_a_put_link_is_refused_once_its_upload_was_checked_and_jobs_keep_the_checked_image(
    workers: Embedded,
) -> None:
    """The issue's repro: PUT small, submit, PUT 144 MP to the same link, submit again."""
    stack = workers
    key = stack.new_key()
    body = presign(stack, key)
    small = make_image(200, 150)
    assert put(stack, body["put_url"], small) == 200
    first = stack.client.post(
        f"{API}/upscale", headers=auth(key), json={"image": body["id"], "mode": "fast", "path": "local"}
    )
    assert first.status_code == 202, first.text

    assert put(stack, body["put_url"], flat_png(12000, 12000)) == 404  # checked: the link is dead
    second = stack.client.post(
        f"{API}/upscale", headers=auth(key), json={"image": body["id"], "mode": "fast", "path": "local"}
    )
    assert second.status_code == 202 and second.json()["params"]["image_size"] == [200, 150]

    checked = row(body["id"]).key
    assert "/incoming/" not in checked and get_store().get(checked) == small
    assert not get_store().exists(body["put_url"].split("/files/", 1)[1].split("?", 1)[0])
    stack.start_worker()
    for job in (first.json(), second.json()):
        done = stack.wait_job(key, job["id"])
        assert done["status"] == "succeeded", done
        [output] = done["outputs"]
        assert output["width"] * output["height"] <= 4 * 200 * 150 * 4  # from the 200x150 checked


def test_a_put_link_is_refused_after_delete_and_no_object_is_left(embedded: Embedded) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    body = presign(embedded, key)
    assert put(embedded, body["put_url"], make_image(60, 40)) == 200
    assert embedded.client.delete(f"{API}/uploads/{body['id']}", headers=auth(key)).status_code == 204
    assert put(embedded, body["put_url"], make_image(60, 40)) == 404
    assert objects(embedded, tenant_id) == set()


def test_a_put_link_binds_the_declared_size_and_the_check_the_declared_type(embedded: Embedded) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    image = make_image(80, 60)
    tight = presign(embedded, key, size=len(image) - 1)
    assert put(embedded, tight["put_url"], image) == 413  # over what was declared

    as_jpeg = presign(embedded, key, content_type="image/jpeg")
    assert put(embedded, as_jpeg["put_url"], image) == 200
    with pytest.raises(Exception) as caught:
        resolve(tenant_id, as_jpeg["id"])
    assert getattr(caught.value, "slug", "") == "invalid-image" and "image/jpeg" in str(caught.value)


def test_the_check_reads_at_most_the_declared_size(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that took more than declared (S3's PUT binds no size) is never read whole."""
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    image = make_image(80, 60)
    body = presign(embedded, key, size=len(image) - 10)
    get_store().put(row(body["id"]).key, image, content_type="image/png")  # as an S3 PUT could
    reads = read_limits(monkeypatch)
    with pytest.raises(Exception) as caught:
        resolve(tenant_id, body["id"])
    assert getattr(caught.value, "slug", "") == "image-too-large"
    assert reads == [len(image) - 10]


def test_the_upload_check_is_committed_on_its_own_and_holds_no_write_lock_while_reading(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch drafting rolls its session back: the mark survives; storage is read with the lock free."""
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    body = presign(embedded, key)
    assert put(embedded, body["put_url"], make_image(64, 48)) == 200
    store = get_store()
    real_get = store.get
    writable: list[bool] = []

    def get_while_writing(key: str, *, limit: int | None = None) -> bytes:
        # Another writer (another tenant's /credits) must not wait on this read.
        database = Path(get_settings().resolved_database_url.removeprefix("sqlite:///"))
        other = sqlite3.connect(database, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writable.append(True)
        except sqlite3.OperationalError:
            writable.append(False)
        finally:
            other.close()
        return real_get(key, limit=limit)

    monkeypatch.setattr(store, "get", get_while_writing)
    with session_scope() as session:
        upload_service.resolve(session, tenant_id=tenant_id, upload_id=body["id"], field="image")
        session.rollback()  # what the batch route does after drafting each entry
    assert writable == [True]
    assert row(body["id"]).state == "ready" and row(body["id"]).width == 64


def test_strays_under_the_uploads_prefix_are_swept(embedded: Embedded) -> None:
    """What an S3 PUT link writes after its upload was checked or deleted is nobody's: swept."""
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    kept = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", make_image(30, 30), "image/png")}
    ).json()["id"]
    stray = f"tenants/{tenant_id}/uploads/incoming/upl_gone.png"
    get_store().put(stray, make_image(30, 30), content_type="image/png")
    with session_scope() as session:  # too young: it may be an upload being created
        upload_service.sweep(session)
    assert stray in objects(embedded, tenant_id)
    later = utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1)
    with session_scope() as session:
        upload_service.sweep(session, now=later)
    assert objects(embedded, tenant_id) == {row(kept).key}


def test_a_forged_non_ascii_signature_is_a_404_not_a_500(embedded: Embedded) -> None:
    response = embedded.client.put(
        f"{API}/files/tenants/t/uploads/incoming/upl_x.png?expires=9999999999&signature=%C3%A9", content=b"x"
    )
    assert response.status_code == 404, response.text


# --- the worker holds each input to what the gateway checked ------------------------------------


def _queued_upscale(stack: Embedded, key: str, image: bytes) -> dict[str, Any]:
    response = stack.client.post(
        f"{API}/upscale",
        headers=auth(key),
        data={"mode": "fast", "path": "local"},
        files={"image": ("a.png", image, "image/png")},
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def _input_key(job_id: str) -> str:
    with session_scope() as session:
        inputs = session.scalar(select(Job.inputs).where(Job.id == job_id))
        assert inputs is not None
        return str(inputs["image"])


def _credits(stack: Embedded, key: str) -> tuple[int, int]:
    body = stack.client.get(f"{API}/credits", headers=auth(key)).json()
    return body["balance"], body["reserved"]


def test_an_input_changed_after_acceptance_fails_its_job_image_changed(workers: Embedded) -> None:
    stack = workers
    key = stack.new_key()
    before = _credits(stack, key)
    job = _queued_upscale(stack, key, make_image(200, 150))
    get_store().put(_input_key(job["id"]), flat_png(3000, 3000), content_type="image/png")
    stack.start_worker()
    done = stack.wait_job(key, job["id"])
    assert done["status"] == "failed" and done["outputs"] == []
    error = done["error"]
    assert error["type"] == "https://imagestudio.dev/problems/image-changed" and error["field"] == "image"
    assert "3000x3000" in error["detail"] and "200x150" in error["detail"]
    assert error["attempts"] == 1 and _credits(stack, key) == before


def test_the_worker_reads_at_most_the_byte_limit(workers: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = workers
    key = stack.new_key()
    job = _queued_upscale(stack, key, make_image(200, 150))
    limit = get_settings().max_upload_bytes
    get_store().put(_input_key(job["id"]), make_image(200, 150) + bytes(limit), content_type="image/png")
    reads = read_limits(monkeypatch)
    stack.start_worker()
    done = stack.wait_job(key, job["id"])
    assert done["status"] == "failed" and done["error"]["type"].endswith("/image-changed")
    assert reads and all(r == limit for r in reads)


def test_a_batch_naming_a_pending_upload_leaves_it_ready(workers: Embedded) -> None:
    """The mark was rolled back with each drafted entry, so the upload was re-read on every use."""
    stack = workers
    key = stack.new_key()
    body = presign(stack, key)
    assert put(stack, body["put_url"], make_image(120, 90)) == 200
    entry = {"studio": "upscale", "params": {"image": body["id"], "mode": "fast", "path": "local"}}
    response = stack.client.post(f"{API}/jobs/batch", headers=auth(key), json={"jobs": [entry, entry]})
    assert response.status_code == 200, response.text
    assert [e["status"] for e in response.json()["jobs"]] == [202, 202]
    ready = stack.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert ready["state"] == "ready" and (ready["width"], ready["height"]) == (120, 90)
