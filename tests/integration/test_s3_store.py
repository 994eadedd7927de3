"""The S3 adapter through the minio client against the S3 server on loopback."""

from __future__ import annotations

import uuid

import httpx
import pytest
from support import S3_PORT, ensure_services

from imagestudio.errors import StorageError
from imagestudio.storage.s3 import S3Store

pytestmark = pytest.mark.integration


def store(bucket: str, **overrides: object) -> S3Store:
    options: dict[str, object] = dict(
        endpoint=f"127.0.0.1:{S3_PORT}",
        access_key="testing",
        secret_key="testing",
        bucket=bucket,
        secure=False,
    )
    options.update(overrides)
    return S3Store(**options)  # type: ignore[arg-type]


def test_bucket_created_objects_round_trip_and_links_expire_explicitly() -> None:
    ensure_services()
    s3 = store(f"store-{uuid.uuid4().hex[:8]}")
    s3.put("tenants/t/jobs/j/outputs/a.png", b"\x89PNG-bytes", content_type="image/png")  # creates the bucket
    assert s3.exists("tenants/t/jobs/j/outputs/a.png")
    assert s3.get("tenants/t/jobs/j/outputs/a.png") == b"\x89PNG-bytes"
    link = s3.presigned_url("tenants/t/jobs/j/outputs/a.png", ttl_seconds=600)
    response = httpx.get(link.url)
    assert response.status_code == 200 and response.content == b"\x89PNG-bytes"
    assert response.headers["content-type"] == "image/png"
    assert "X-Amz-Expires=600" in link.url
    s3.put("tenants/t/jobs/j/outputs/a.png", b"rewritten", content_type="image/png")  # idempotent overwrite
    assert s3.get("tenants/t/jobs/j/outputs/a.png") == b"rewritten"
    s3.delete("tenants/t/jobs/j/outputs/a.png")
    assert not s3.exists("tenants/t/jobs/j/outputs/a.png")
    with pytest.raises(StorageError):
        s3.get("tenants/t/jobs/j/outputs/a.png")


def test_unreachable_store_is_a_storage_error() -> None:
    s3 = store("nowhere", endpoint="127.0.0.1:1")
    with pytest.raises(StorageError):
        s3.check()


def test_a_bounded_read_is_a_ranged_get_and_listings_name_every_object_under_a_prefix() -> None:
    ensure_services()
    s3 = store(f"store-{uuid.uuid4().hex[:8]}")
    s3.put("tenants/t/uploads/a.png", bytes(range(256)) * 40, content_type="image/png")
    s3.put("tenants/t/uploads/incoming/b.png", b"b", content_type="image/png")
    s3.put("tenants/t/uploads/empty.png", b"", content_type="image/png")
    s3.put("tenants/t/jobs/j/inputs/image.png", b"c", content_type="image/png")
    assert s3.get("tenants/t/uploads/a.png", limit=99) == (bytes(range(256)) * 40)[:100]  # limit + 1
    assert s3.get("tenants/t/uploads/a.png", limit=10_240) == bytes(range(256)) * 40
    assert s3.get("tenants/t/uploads/empty.png", limit=10) == b""
    listed = {o.key: o.size for o in s3.list("tenants/t/uploads/")}
    assert listed == {
        "tenants/t/uploads/a.png": 10_240,
        "tenants/t/uploads/incoming/b.png": 1,
        "tenants/t/uploads/empty.png": 0,
    }
    assert all(o.modified_at.tzinfo is not None for o in s3.list("tenants/t/"))


def test_a_link_with_a_file_name_downloads_under_it() -> None:
    ensure_services()
    s3 = store(f"store-{uuid.uuid4().hex[:8]}")
    s3.put("tenants/t/jobs/j/outputs/instagram.story.jpg", b"jpeg-bytes", content_type="image/jpeg")
    link = s3.presigned_url(
        "tenants/t/jobs/j/outputs/instagram.story.jpg", ttl_seconds=600, filename="café-instagram-story.jpg"
    )
    response = httpx.get(link.url)
    assert response.status_code == 200 and response.content == b"jpeg-bytes"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="caf_-instagram-story.jpg"')
    assert "filename*=UTF-8''caf%C3%A9-instagram-story.jpg" in disposition
