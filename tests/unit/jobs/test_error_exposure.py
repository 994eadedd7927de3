"""Clients get a fixed title and problem type for internal failures; the cause goes to the logs."""

from __future__ import annotations

import logging

import pytest
from support import Embedded, accepted_id, make_image, post_social

from imagestudio.errors import StorageError
from imagestudio.jobs.runner import JobContext
from imagestudio.storage import get_store

API = "/api/image-studio"
#: What a storage client's own message holds: host, bucket, key.
STORE_TEXT = (
    "Could not connect to the endpoint URL: http://minio.internal:9000/secret-bucket/tenants/t1/k.png"
)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    """Whether a log record (event or structured fields) holds ``text``."""
    return any(text in f"{r.getMessage()} {getattr(r, 'fields', {})}" for r in caplog.records)


def submit(stack: Embedded, key: str) -> str:
    image = ("a.png", make_image(320, 240), "image/png")
    return accepted_id(post_social(stack, key, image, formats="instagram.feed_square"))


def test_a_storage_failure_answers_503_without_the_store_clients_text(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    embedded.wait_job(key, submit(embedded, key))

    def broken(*args: object, **kwargs: object) -> None:
        raise StorageError(f"cannot sign: {STORE_TEXT}")

    monkeypatch.setattr(get_store(), "presigned_url", broken)
    with caplog.at_level(logging.ERROR):
        response = embedded.client.get(f"{API}/assets", headers=auth(key))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/storage-unavailable") and body["title"] == "Storage unavailable"
    for secret in ("minio.internal", "secret-bucket", "tenants/t1", "9000"):
        assert secret not in response.text
    assert logged(caplog, "minio.internal:9000/secret-bucket")


def test_a_job_failing_with_an_unexpected_exception_stores_no_exception_text(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imagestudio.studios import social

    def crash(ctx: JobContext) -> None:
        raise RuntimeError("connect to db.internal:5432 failed, password=hunter2")

    monkeypatch.setattr(social, "run", crash)
    key = embedded.new_key()
    embedded.start_worker()
    with caplog.at_level(logging.ERROR):
        job = embedded.wait_job(key, submit(embedded, key), timeout=60)
    assert job["status"] == "failed"
    error = job["error"]
    assert error["type"].endswith("/internal") and error["title"] == "Job failed" and error["attempts"] == 3
    for secret in ("RuntimeError", "db.internal", "hunter2"):
        assert secret not in str(error)
    assert logged(caplog, "hunter2")


def test_a_job_failing_on_storage_stores_the_fixed_storage_problem(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imagestudio.studios import social

    def storage_down(ctx: JobContext) -> None:
        raise StorageError(f"cannot read: {STORE_TEXT}")

    monkeypatch.setattr(social, "run", storage_down)
    key = embedded.new_key()
    embedded.start_worker()
    with caplog.at_level(logging.ERROR):
        job = embedded.wait_job(key, submit(embedded, key), timeout=60)
    error = job["error"]
    assert error["type"].endswith("/storage-unavailable") and error["title"] == "Storage unavailable"
    assert "minio.internal" not in str(error) and "secret-bucket" not in str(error)
    assert logged(caplog, "minio.internal")
