"""Images by URL on real services: gateway (PostgreSQL) → outbox → RabbitMQ → compress worker → S3.

The image host is a loopback HTTP server in this process (``image_url_support``;
``REMOTE_IMAGE_ALLOW_LOOPBACK`` for the gateway and the worker); a refused address is reached only
as a redirect's target.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from image_url_support import MAX_BYTES, serving_images
from minio import Minio
from support import S3_PORT

from integration.conftest import Stack
from integration.test_compress_distributed import wait_finished

pytestmark = [
    pytest.mark.integration,
    pytest.mark.gateway_env(IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true"),
]

API = "/api/image-studio"


@pytest.fixture
def host() -> Iterator[str]:
    """The base URL of a loopback server holding ``photo.png`` (320x240), slow, huge and refused paths."""
    with serving_images() as base_url:
        yield base_url


def submit(stack: Stack, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{stack.base_url}{API}/{route}", headers=stack.headers(), json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def test_url_jobs_run_on_a_distributed_worker_and_failures_release_their_hold(
    stack: Stack, host: str
) -> None:
    worker = stack.worker("compress", IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true")
    photo = f"{host}/photo.png"
    compressed = submit(stack, "compress", {"image": photo, "format": "webp", "quality": 70})
    converted = submit(stack, "convert", {"image": photo, "format": "jpeg"})
    refused = submit(stack, "compress", {"image": f"{host}/to-private", "quality": 70})
    unreachable = submit(stack, "convert", {"image": f"{host}/missing.png", "format": "webp"})

    for job, fmt in ((compressed, "webp"), (converted, "jpeg")):
        done = wait_finished(stack, job["id"])
        assert done["status"] == "succeeded", (done, worker.output())
        assert done["params"]["image_urls"] == {"image": photo}
        [output] = done["outputs"]
        assert (output["format"], output["width"], output["height"]) == (fmt, 320, 240)
    for job, problem in ((refused, "remote-image-refused"), (unreachable, "remote-image-unreachable")):
        failed = wait_finished(stack, job["id"])
        assert failed["status"] == "failed", failed
        assert failed["error"]["type"].endswith(f"/{problem}") and failed["error"]["field"] == "image"
    credits = httpx.get(f"{stack.base_url}{API}/credits", headers=stack.headers(), timeout=10).json()
    assert credits["reserved"] == 0
    # The fetched image is the job's input in S3, like an upload's.
    s3 = Minio(
        f"127.0.0.1:{S3_PORT}", access_key="testing", secret_key="testing", secure=False, region="us-east-1"
    )
    keys = [o.object_name for o in s3.list_objects(stack.services.bucket, prefix="tenants/", recursive=True)]
    assert any(key.endswith(f"/jobs/{compressed['id']}/inputs/image.png") for key in keys)


#: The caps of the slow and huge files: a one-second fetch, the support server's byte limit.
CAPS = {
    "IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK": "true",
    "IMAGESTUDIO_REMOTE_IMAGE_TIMEOUT_SECONDS": "1",
    "IMAGESTUDIO_MAX_UPLOAD_BYTES": str(MAX_BYTES),
}


@pytest.mark.gateway_env(**CAPS)
def test_a_slow_a_huge_or_a_metadata_url_fails_on_a_distributed_worker_naming_the_field(
    stack: Stack, host: str
) -> None:
    worker = stack.worker("compress", **CAPS)
    expected = {
        "/slow": ("remote-image-unreachable", "within 1 seconds"),  # the time cap
        "/huge": ("image-too-large", f"{MAX_BYTES:,} byte limit"),  # no length declared: the byte cap
        "/to-metadata": ("remote-image-refused", "metadata"),  # a redirect to the metadata service
    }
    jobs = {path: submit(stack, "compress", {"image": f"{host}{path}", "quality": 70}) for path in expected}
    for path, (problem, says) in expected.items():
        failed = wait_finished(stack, jobs[path]["id"])
        assert failed["status"] == "failed", (failed, worker.output())
        error = failed["error"]
        assert error["type"].endswith(f"/{problem}") and error["field"] == "image", error
        assert says in error["detail"], error
    credits = httpx.get(f"{stack.base_url}{API}/credits", headers=stack.headers(), timeout=10).json()
    assert credits["reserved"] == 0
