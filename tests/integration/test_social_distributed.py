"""The social studio end to end on real services: gateway → outbox → RabbitMQ → worker → S3."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from minio import Minio
from PIL import Image
from support import S3_PORT, make_image, wait_for

from imagestudio.studios.social import PLATFORMS
from imagestudio_client import CustomFormat, ImageStudio
from integration.conftest import Stack

pytestmark = pytest.mark.integration

API = "/api/image-studio"
ALL_FORMATS = {f.key: f for p in PLATFORMS.values() for f in p.formats}


def submit(stack: Stack, image: bytes, **form: str) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.base_url}{API}/social/optimize",
        headers=stack.headers(),
        files={"image": ("photo.jpg", image, "image/jpeg")},
        data=form,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"].endswith(response.json()["id"])
    return response.json()  # type: ignore[no-any-return]


def get_job(stack: Stack, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{stack.base_url}{API}/jobs/{job_id}", headers=stack.headers(), timeout=10).json()  # type: ignore[no-any-return]


def wait_finished(stack: Stack, job_id: str, timeout: float = 120) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (job := get_job(stack, job_id))["status"] in ("succeeded", "failed", "canceled") and job,
        timeout=timeout,
        interval=0.2,
        what=f"job {job_id} to finish",
    )


def submit_part_done(stack: Stack) -> dict[str, Any]:
    """A job of every format from a 1200x900 JPEG, once a worker has done some of it (15 %)."""
    job = submit(stack, make_image(1200, 900, "JPEG"), platforms="all")
    wait_for(
        lambda: get_job(stack, job["id"])["progress"] >= 0.15,
        timeout=60,
        interval=0.1,
        what="the job to be part done",
    )
    return job


def s3_client() -> Minio:
    return Minio(
        f"127.0.0.1:{S3_PORT}", access_key="testing", secret_key="testing", secure=False, region="us-east-1"
    )


def test_social_job_end_to_end_every_format_from_s3(stack: Stack) -> None:
    worker = stack.worker()
    job = submit(stack, make_image(1800, 1200, "JPEG", quality=90), platforms="all", safe_zone_overlay="true")
    done = wait_finished(stack, job["id"])
    assert done["status"] == "succeeded", (done, worker.output())
    outputs = {o["name"]: o for o in done["outputs"]}
    assert {n for n, o in outputs.items() if o["kind"] == "image"} == set(ALL_FORMATS)
    for name, fmt in ALL_FORMATS.items():
        link = outputs[name]
        assert link["url"].startswith(f"http://127.0.0.1:{S3_PORT}/{stack.services.bucket}/tenants/")
        assert "X-Amz-Signature=" in link["url"]
        expires = datetime.fromisoformat(link["expires_at"])
        assert 3000 < (expires - datetime.now(UTC)).total_seconds() <= 3600
        data = httpx.get(link["url"], timeout=10).content  # a plain GET: the link is the credential
        img = Image.open(io.BytesIO(data))
        assert img.size == (fmt.width, fmt.height) and img.format == "JPEG", name
        assert len(data) <= fmt.max_bytes
        preview = Image.open(io.BytesIO(httpx.get(outputs[f"{name}.safe-zone"]["url"], timeout=10).content))
        assert preview.size == (fmt.width, fmt.height) and preview.format == "PNG"
    with zipfile.ZipFile(io.BytesIO(httpx.get(outputs["all.zip"]["url"], timeout=10).content)) as zf:
        assert len(zf.namelist()) == 2 * len(ALL_FORMATS)
    # The upload went to S3 under the tenant's prefix before the job was queued.
    keys = [
        o.object_name
        for o in s3_client().list_objects(stack.services.bucket, prefix="tenants/", recursive=True)
    ]
    assert any(k.endswith(f"{job['id']}/inputs/image.jpg") for k in keys)


BANNER: CustomFormat = {"name": "partner_banner", "width": 1200, "height": 1500}


def test_plan_and_custom_sizes_work_distributed_through_the_sdk_and_a_form(stack: Stack) -> None:
    """Issue 29's "done when" in distributed mode: the plan (the SDK on an upload, a form with the
    file) and a custom size beside a catalogue format, planned on the worker and rendered by the job
    with the same crops."""
    worker = stack.worker()
    photo = make_image(1200, 900, "JPEG", quality=90)
    with ImageStudio(stack.base_url, stack.key) as client:
        upload = client.uploads.create(photo)
        plan = client.social.plan(upload.id, formats=["instagram.story", BANNER], timeout=120)
        assert (plan.source_width, plan.source_height) == (1200, 900)
        assert [(f.format, f.width, f.height) for f in plan.formats] == [
            ("instagram.story", 1080, 1920),
            ("custom.partner_banner", 1200, 1500),
        ]
        job = client.social.optimize(upload.id, formats=["instagram.story", BANNER], zip=False).wait(
            timeout=120
        )
        assert job.status == "succeeded", (job.error, worker.output())
        rendered = {o.name: o.metadata["crop_box"] for o in job.outputs}
        assert rendered == {f.format: list(f.crop_box or ()) for f in plan.formats}
        (banner,) = (o for o in job.outputs if o.name == "custom.partner_banner")
        assert Image.open(io.BytesIO(httpx.get(banner.url, timeout=10).content)).size == (1200, 1500)
    # The form: the file itself, the custom format as JSON in a repeated formats field.
    response = httpx.post(
        f"{stack.base_url}{API}/social/plan",
        headers={**stack.headers(), "Prefer": "wait=60"},
        files={"image": ("photo.jpg", photo, "image/jpeg")},
        data={"formats": ["instagram.story", json.dumps(BANNER)]},
        timeout=90,
    )
    assert response.status_code in (200, 202), response.text
    done = wait_finished(stack, response.json()["id"])
    assert done["status"] == "succeeded", (done, worker.output())
    (output,) = done["outputs"]
    formed = {f["format"]: f["crop_box"] for f in output["metadata"]["formats"]}
    assert formed == {f.format: list(f.crop_box or ()) for f in plan.formats}


def test_worker_killed_mid_job_loses_nothing(stack: Stack) -> None:
    # A short lease: the redelivery takes the dead worker's job over soon after it stops renewing.
    slow = stack.worker(IMAGESTUDIO_DEBUG_OUTPUT_DELAY_SECONDS="0.4", IMAGESTUDIO_JOB_LEASE_SECONDS="5")
    job = submit_part_done(stack)
    slow.kill()  # SIGKILL: no chance to ack, nack or record anything
    killed = get_job(stack, job["id"])
    assert killed["status"] == "running" and killed["attempts"] == 1
    written_before = len(killed["outputs"])
    assert 0 < written_before < len(ALL_FORMATS)

    stack.worker()  # RabbitMQ redelivers the unacked message to the new worker
    done = wait_finished(stack, job["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    names = [o["name"] for o in done["outputs"]]
    assert len(names) == len(set(names)) == len(ALL_FORMATS) + 1  # every format once, plus all.zip
    objects = list(s3_client().list_objects(stack.services.bucket, prefix="tenants/", recursive=True))
    job_outputs = [o for o in objects if f"/jobs/{job['id']}/outputs/" in o.object_name]
    assert len(job_outputs) == len(names)  # redelivery rewrote the same keys: no second set


def test_studio_queues_are_durable_with_dead_letter_queues(stack: Stack) -> None:
    stack.worker()
    stack.wait_for_durable_queue("social")


def test_other_tenant_cannot_read_job(stack: Stack) -> None:
    from integration.conftest import create_key

    job = submit(stack, make_image(300, 200, "JPEG"), formats="youtube.thumbnail")
    other = create_key(stack.services.env, "intruder")
    response = httpx.get(
        f"{stack.base_url}{API}/jobs/{job['id']}", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
