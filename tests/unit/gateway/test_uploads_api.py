"""Uploads through the embedded stack: create, read, delete, tenancy, expiry, the sweeper, presigned PUTs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from support import Embedded, in_process_stack, make_image, sql_statements, wait_for
from uploads_support import API, auth, resolve, tenant_of

from imagestudio.db import session_scope, utcnow
from imagestudio.errors import ImageTooLarge, InvalidImage, ValidationFailed
from imagestudio.jobs.models import Job, JobStatus
from imagestudio.uploads.models import Upload
from imagestudio.uploads.service import SWEEP_GRACE_SECONDS, upload_service


def upload(stack: Embedded, key: str, data: bytes, name: str = "photo.png") -> Any:
    response = stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": (name, data, "image/png")}
    )
    assert response.status_code == 201, response.text
    return response


def object_path(stack: Embedded, upload_id: str) -> Path:
    with session_scope() as session:
        row = session.get(Upload, upload_id)
        assert row is not None
        return stack.data_dir / "objects" / row.key


def refused(tenant_id: str, upload_id: str, field: str = "image") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        resolve(tenant_id, upload_id, field)
    assert caught.value.status in (413, 422) and caught.value.field == field
    return caught.value


def test_upload_created_read_resolved_and_deleted(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = upload(embedded, key, make_image(640, 480))
    body = response.json()
    assert body["id"].startswith("upl_") and body["state"] == "ready"
    assert (body["width"], body["height"], body["format"]) == (640, 480, "png")
    assert body["content_type"] == "image/png" and body["bytes"] == len(make_image(640, 480))
    assert response.headers["location"] == f"{API}/uploads/{body['id']}"
    assert response.headers["ratelimit"]  # the submission rate limit counts uploads
    path = object_path(embedded, body["id"])
    assert path.read_bytes() == make_image(640, 480)
    assert f"/uploads/{body['id']}.png" in path.as_posix()

    read = embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key))
    assert read.status_code == 200 and read.json() == body

    tenant_id = tenant_of(key)
    resolved = resolve(tenant_id, body["id"])  # also primes the in-process cache
    assert resolved.info.width == 640 and resolved.info.format == "png" and resolved.ext == "png"
    assert resolved.content_type == "image/png" and (embedded.data_dir / "objects" / resolved.key) == path

    assert embedded.client.delete(f"{API}/uploads/{body['id']}", headers=auth(key)).status_code == 204
    assert not path.exists()
    gone = embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key))
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    refused(tenant_id, body["id"])  # the cache forgot it at once


def test_another_tenants_upload_is_indistinguishable_from_a_missing_one(embedded: Embedded) -> None:
    owner, other = embedded.new_key("owner"), embedded.new_key("other")
    upload_id = upload(embedded, owner, make_image(200, 100)).json()["id"]
    for method in ("get", "delete"):
        theirs = embedded.client.request(method, f"{API}/uploads/{upload_id}", headers=auth(other))
        missing = embedded.client.request(method, f"{API}/uploads/upl_missing", headers=auth(other))
        assert theirs.status_code == missing.status_code == 404
        assert {k: v for k, v in theirs.json().items() if k not in ("detail", "instance")} == {
            k: v for k, v in missing.json().items() if k not in ("detail", "instance")
        }
    refused(tenant_of(other), upload_id, field="mask")
    assert object_path(embedded, upload_id).exists()  # the other tenant's DELETE did nothing
    assert resolve(tenant_of(owner), upload_id).info.height == 100


def test_upload_that_is_not_an_image_is_refused_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", b"not an image at all", "image/png")}
    )
    assert response.status_code == 422 and response.json()["field"] == "file"
    missing = embedded.client.post(f"{API}/uploads", headers=auth(key), files={"other": ("a.png", b"x")})
    assert missing.status_code == 422 and missing.json()["field"] == "file"
    with session_scope() as session:
        assert session.scalars(select(Upload)).all() == []


@pytest.fixture
def short_ttl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    yield from in_process_stack(tmp_path, monkeypatch, IMAGESTUDIO_UPLOAD_TTL_SECONDS="1")


def test_expired_upload_is_not_found_refused_and_swept(short_ttl: Embedded) -> None:
    key = short_ttl.new_key()
    body = upload(short_ttl, key, make_image(300, 300)).json()
    path = object_path(short_ttl, body["id"])
    tenant_id = tenant_of(key)
    assert resolve(tenant_id, body["id"]).info.width == 300

    wait_for(
        lambda: short_ttl.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).status_code == 404,
        timeout=10,
        what="the upload to expire",
    )
    assert "expired" in refused(tenant_id, body["id"]).detail  # the cache honours the expiry too

    with session_scope() as session:  # inside the grace period: kept
        assert upload_service.sweep(session) == 0
    assert path.exists()
    later = utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1)
    with session_scope() as session:
        assert upload_service.sweep(session, now=later) == 1
    assert not path.exists()
    with session_scope() as session:
        assert session.get(Upload, body["id"]) is None
        assert upload_service.sweep(session, now=later) == 0  # a second sweep (another replica) is harmless


def _queued_job_reading(tenant_id: str, storage_key: str) -> str:
    with session_scope() as session:
        job = Job(
            tenant_id=tenant_id, studio="social", status=JobStatus.queued.value, inputs={"image": storage_key}
        )
        session.add(job)
        session.flush()
        return job.id


def _expire(upload_id: str) -> None:
    with session_scope() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=utcnow()))


def test_sweeper_spares_an_object_a_queued_job_still_reads(embedded: Embedded) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    used = upload(embedded, key, make_image(120, 80)).json()["id"]
    unused = upload(embedded, key, make_image(80, 120)).json()["id"]
    used_path, unused_path = object_path(embedded, used), object_path(embedded, unused)
    job_id = _queued_job_reading(tenant_id, resolve(tenant_id, used).key)
    _expire(used)
    _expire(unused)

    later = utcnow() + timedelta(seconds=SWEEP_GRACE_SECONDS + 1)
    with session_scope() as session:
        assert upload_service.sweep(session, now=later) == 1
    assert used_path.exists() and not unused_path.exists()

    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=JobStatus.succeeded.value))
    with session_scope() as session:
        assert upload_service.sweep(session, now=later) == 1
    assert not used_path.exists()


def test_deleting_an_upload_a_queued_job_reads_keeps_its_object_until_the_job_ends(
    embedded: Embedded,
) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    upload_id = upload(embedded, key, make_image(90, 90)).json()["id"]
    path = object_path(embedded, upload_id)
    job_id = _queued_job_reading(tenant_id, resolve(tenant_id, upload_id).key)

    assert embedded.client.delete(f"{API}/uploads/{upload_id}", headers=auth(key)).status_code == 204
    assert embedded.client.get(f"{API}/uploads/{upload_id}", headers=auth(key)).status_code == 404
    refused(tenant_id, upload_id)
    assert path.exists()  # the queued job can still read it

    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=JobStatus.failed.value))
    with session_scope() as session:
        assert upload_service.sweep(session) == 1
    assert not path.exists()


def test_ready_upload_resolves_from_the_cache_without_a_query(embedded: Embedded) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    upload_id = upload(embedded, key, make_image(64, 64)).json()["id"]
    with sql_statements() as statements:
        first = resolve(tenant_id, upload_id)
        queried = len([s for s in statements if "uploads" in s])
        second = resolve(tenant_id, upload_id)
    assert first == second
    assert queried == 1 and len([s for s in statements if "uploads" in s]) == 1


# --- presigned PUT (the local store's twin of S3's, served by the gateway) ----------------------


def presign(stack: Embedded, key: str, **body: Any) -> Any:
    return stack.client.post(
        f"{API}/uploads", headers=auth(key), json={"content_type": "image/png", "bytes": 1000, **body}
    )


def put(stack: Embedded, url: str, data: bytes) -> int:
    return stack.client.put(url.removeprefix("http://testserver"), content=data).status_code


def test_presigned_put_is_checked_on_first_use_and_then_ready(embedded: Embedded) -> None:
    key = embedded.new_key()
    tenant_id = tenant_of(key)
    response = presign(embedded, key)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "pending" and body["id"].startswith("upl_")
    assert response.headers["location"] == f"{API}/uploads/{body['id']}"
    assert body["put_url"].startswith(f"http://testserver{API}/files/")
    pending = embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert pending["state"] == "pending" and pending["width"] is None

    assert "PUT it" in refused(tenant_id, body["id"]).detail  # never PUT: refused, naming the field

    assert put(embedded, body["put_url"] + "0", make_image(50, 40)) == 404  # forged signature
    assert put(embedded, body["put_url"], make_image(50, 40)) == 200
    resolved = resolve(tenant_id, body["id"])
    assert (resolved.info.width, resolved.info.height, resolved.info.format) == (50, 40, "png")
    ready = embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert ready["state"] == "ready" and ready["width"] == 50 and ready["bytes"] == len(make_image(50, 40))


def test_presigned_put_of_a_non_image_is_refused_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    body = presign(embedded, key).json()
    assert put(embedded, body["put_url"], b"%PDF-1.7 definitely not an image") == 200
    error = refused(tenant_of(key), body["id"], field="image")
    assert isinstance(error, InvalidImage) and error.status == 422
    assert embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()["state"] == "pending"


@pytest.fixture
def small_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    yield from in_process_stack(tmp_path, monkeypatch, IMAGESTUDIO_MAX_UPLOAD_BYTES="2000")


def test_presigned_put_over_the_byte_limit_is_refused(small_limit: Embedded) -> None:
    stack = small_limit
    key = stack.new_key()
    too_big = presign(stack, key, bytes=2001)
    assert too_big.status_code == 413 and too_big.json()["field"] == "bytes"
    body = presign(stack, key, bytes=1000).json()
    assert put(stack, body["put_url"], bytes(3000)) == 413  # the gateway stops reading
    not_image = presign(stack, key, content_type="text/plain")
    assert not_image.status_code == 422 and not_image.json()["field"] == "content_type"
    no_size = stack.client.post(f"{API}/uploads", headers=auth(key), json={"content_type": "image/png"})
    assert no_size.status_code == 422 and no_size.json()["field"] == "bytes"
    assert not isinstance(refused(tenant_of(key), body["id"]), ImageTooLarge)  # nothing was stored


def test_uploads_sweep_command_deletes_expired_uploads_and_their_objects(embedded: Embedded) -> None:
    from typer.testing import CliRunner

    from imagestudio.cli import app

    key = embedded.new_key()
    upload_id = upload(embedded, key, make_image(70, 70)).json()["id"]
    kept = upload(embedded, key, make_image(70, 70)).json()["id"]
    path = object_path(embedded, upload_id)
    with session_scope() as session:
        long_ago = utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS + 60)
        session.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=long_ago))
    result = CliRunner().invoke(app, ["uploads", "sweep"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 expired upload" in result.output
    assert not path.exists() and object_path(embedded, kept).exists()


@pytest.fixture
def fast_sweeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    yield from in_process_stack(tmp_path, monkeypatch, IMAGESTUDIO_UPLOAD_SWEEP_SECONDS="0.1")


def test_gateway_sweeps_expired_uploads_in_the_background(fast_sweeper: Embedded) -> None:
    key = fast_sweeper.new_key()
    upload_id = upload(fast_sweeper, key, make_image(60, 60)).json()["id"]
    path = object_path(fast_sweeper, upload_id)
    with session_scope() as session:
        long_ago = utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS + 60)
        session.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=long_ago))
    wait_for(lambda: not path.exists(), timeout=10, what="the gateway's sweeper to delete the object")

    def row_gone() -> bool:
        with session_scope() as session:
            return session.get(Upload, upload_id) is None

    wait_for(row_gone, timeout=10, what="the sweeper to delete the row")


def test_an_output_becomes_an_upload_by_its_asset_id_without_being_sent_again(embedded: Embedded) -> None:
    import compress_worker.main  # noqa: F401  (declares compress.run_job on the session's stub broker)

    key = embedded.new_key()
    embedded.start_worker()
    source = upload(embedded, key, make_image(320, 240)).json()
    job = embedded.client.post(
        f"{API}/compress", headers=auth(key), json={"image": source["id"], "quality": 70}
    )
    assert job.status_code == 202, job.text
    output = embedded.wait_job(key, job.json()["id"])["outputs"][0]
    made = embedded.client.post(f"{API}/uploads", headers=auth(key), json={"asset_id": output["id"]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["id"].startswith("upl_") and body["state"] == "ready"
    assert (body["width"], body["height"], body["bytes"]) == (320, 240, output["bytes"])
    assert made.headers["location"] == f"{API}/uploads/{body['id']}"

    other = embedded.client.post(
        f"{API}/uploads", headers=auth(embedded.new_key()), json={"asset_id": output["id"]}
    )
    assert other.status_code == 422 and other.json()["field"] == "asset_id", other.text
    unknown = embedded.client.post(f"{API}/uploads", headers=auth(key), json={"asset_id": "nothing"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "asset_id", unknown.text


def test_the_uploads_list_pages_a_tenants_live_uploads_newest_first(embedded: Embedded) -> None:
    key, other = embedded.new_key("lister"), embedded.new_key("someone-else")
    ids = [upload(embedded, key, make_image(20 + i, 20)).json()["id"] for i in range(4)]
    upload(embedded, other, make_image(30, 30))
    with session_scope() as session:  # the oldest has expired: no longer listed
        session.execute(update(Upload).where(Upload.id == ids[0]).values(expires_at=utcnow()))

    first = embedded.client.get(f"{API}/uploads", headers=auth(key), params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [u["id"] for u in page["items"]] == [ids[3], ids[2]] and page["next_cursor"]
    assert page["items"][0]["width"] == 23 and page["items"][0]["state"] == "ready"
    rest = embedded.client.get(
        f"{API}/uploads", headers=auth(key), params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [u["id"] for u in rest["items"]] == [ids[1]] and rest["next_cursor"] is None

    bad = embedded.client.get(f"{API}/uploads", headers=auth(key), params={"cursor": "nonsense"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    over = embedded.client.get(f"{API}/uploads", headers=auth(key), params={"limit": 101})
    assert over.status_code == 422 and "limit" in over.text
