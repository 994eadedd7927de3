"""Images given by URL: checked in form at submission, fetched by the worker through the egress guard.

Every URL is on loopback, served by a small HTTP server in this process (loopback is allowed by
``IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK``); addresses the guard refuses are reached only as a
redirect's target or a literal host, so nothing leaves the machine.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from image_url_support import MAX_BYTES, ImageServer
from PIL import Image
from sqlalchemy import select
from support import Embedded, in_process_stack

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.jobs.models import CHECKED_SIZES, IMAGE_URLS, Job
from imagestudio.studios.memory import pixel_budget

API = "/api/image-studio"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    yield from in_process_stack(
        tmp_path,
        monkeypatch,
        IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true",
        IMAGESTUDIO_REMOTE_IMAGE_TIMEOUT_SECONDS="1",
        IMAGESTUDIO_MAX_UPLOAD_BYTES=str(MAX_BYTES),
    )


def submit(stack: Embedded, key: str, image: str) -> Any:
    return stack.client.post(
        f"{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        json={"image": image, "formats": ["instagram.feed_square"]},
    )


def run(stack: Embedded, image: str) -> tuple[str, dict[str, Any]]:
    """Submit a social job naming ``image`` and wait for it to end: (key, finished job)."""
    key = stack.new_key()
    stack.start_worker()
    response = submit(stack, key, image)
    assert response.status_code == 202, response.text
    return key, stack.wait_job(key, response.json()["id"])


def failure(job: dict[str, Any]) -> dict[str, Any]:
    assert job["status"] == "failed", job
    problem: dict[str, Any] = job["error"]
    assert problem["field"] == "image", problem
    return problem


def reserved(stack: Embedded, key: str) -> int:
    body = stack.client.get(f"{API}/credits", headers={"Authorization": f"Bearer {key}"}).json()
    return int(body["reserved"])


def test_a_loopback_url_runs_a_social_job_and_is_recorded_in_its_params(stack: Embedded, server: str) -> None:
    url = f"{server}/photo.png"
    key, job = run(stack, url)
    assert job["status"] == "succeeded", job
    square = next(o for o in job["outputs"] if o["name"] == "instagram.feed_square")
    assert (square["width"], square["height"]) == (1080, 1080)
    assert job["params"][IMAGE_URLS] == {"image": url}
    assert job["params"]["formats"] == ["instagram.feed_square"]  # the prepared params replaced the request
    with session_scope() as session:
        row = session.scalars(select(Job).where(Job.id == job["id"])).one()
        # The fetched image is the job's input now, held to the size checked when it was fetched.
        assert row.inputs["image"].endswith("/inputs/image.png")
        assert row.inputs[CHECKED_SIZES] == {"image": [320, 240]}


def test_a_redirect_is_followed_to_the_image(stack: Embedded, server: str) -> None:
    _, job = run(stack, f"{server}/moved")
    assert job["status"] == "succeeded", job


def test_a_redirect_to_a_private_address_fails_the_job_and_holds_no_credits(
    stack: Embedded, server: str
) -> None:
    key, job = run(stack, f"{server}/to-private")
    problem = failure(job)
    assert problem["type"].endswith("/remote-image-refused"), problem
    assert "10.0.0.1" in problem["detail"] and "Private-Use" in problem["detail"]
    assert reserved(stack, key) == 0


@pytest.mark.parametrize(
    ("path", "problem_type", "says"),
    [
        ("/to-metadata", "remote-image-refused", "metadata"),  # a redirect to the metadata service
        ("/slow", "remote-image-unreachable", "within 1 seconds"),  # the time cap
        ("/huge", "image-too-large", f"{MAX_BYTES:,} byte limit"),  # the byte cap, no length declared
        ("/text", "invalid-image", "image"),  # a non-image
        ("/missing", "remote-image-unreachable", "answered 404"),
        ("/loop", "remote-image-unreachable", "redirected more than 3 times"),  # the redirect cap
    ],
)
def test_a_url_that_gives_no_acceptable_image_fails_the_job_naming_the_field(
    stack: Embedded, server: str, path: str, problem_type: str, says: str
) -> None:
    problem = failure(run(stack, f"{server}{path}")[1])
    assert problem["type"].endswith(f"/{problem_type}"), problem
    assert says in problem["detail"], problem


def test_a_closed_port_is_unreachable(stack: Embedded) -> None:
    problem = failure(run(stack, "http://127.0.0.1:9/photo.png")[1])
    assert problem["type"].endswith("/remote-image-unreachable"), problem


def test_an_image_over_the_memory_budget_fails_in_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    """The gateway never reads a URL's header, so the worker admits the fetched image to the memory model."""
    for embedded in in_process_stack(
        tmp_path,
        monkeypatch,
        IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true",
        IMAGESTUDIO_WORKER_MEMORY_BYTES=str(512 * 1024**2),
        IMAGESTUDIO_WORKER_THREADS="3",
    ):
        budget = pixel_budget("social", get_settings())
        assert 0 < budget < get_settings().max_image_pixels  # an upload this size passes the pixel cap
        buffer = io.BytesIO()
        Image.new("RGB", (2000, budget // 2000 + 1), (200, 120, 40)).save(buffer, "PNG")
        ImageServer.served["over-budget.png"] = buffer.getvalue()
        key, job = run(embedded, f"{server}/served/over-budget.png")
        problem = failure(job)
        assert problem["type"].endswith("/image-over-memory-budget"), problem
        assert problem["limit"] == budget and problem["pixels"] > budget
        assert reserved(embedded, key) == 0


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://", "not a valid URL"),
        ("ftp://example.com/a.png", "https://"),
        ("http://example.com/a.png", "https://"),
        ("https://user:pw@example.com/a.png", "credentials"),
        ("https://10.0.0.1/a.png", "Private-Use"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://metadata.google.internal/x", "metadata"),
    ],
)
def test_a_malformed_or_refused_url_is_a_422_at_submission(stack: Embedded, url: str, says: str) -> None:
    response = submit(stack, stack.new_key(), url)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "image" and says in problem["detail"], problem
    with session_scope() as session:
        assert session.scalars(select(Job)).first() is None


def test_loopback_is_refused_without_the_development_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for embedded in in_process_stack(tmp_path, monkeypatch):
        response = submit(embedded, embedded.new_key(), "http://127.0.0.1:8080/a.png")
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "image"
        assert "IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK=true" in response.json()["detail"]


def test_a_form_and_a_batch_entry_take_the_url_too(stack: Embedded, server: str) -> None:
    key = stack.new_key()
    stack.start_worker()
    headers = {"Authorization": f"Bearer {key}"}
    form = stack.client.post(
        f"{API}/social/optimize",
        headers=headers,
        data={"image": f"{server}/photo.png", "formats": "instagram.feed_square"},
    )
    assert form.status_code == 202, form.text
    entries = [
        {"studio": "social", "params": {"image": f"{server}/moved", "formats": ["instagram.story"]}},
        {"studio": "social", "params": {"image": "https://10.1.2.3/a.png", "formats": ["instagram.story"]}},
    ]
    batch = stack.client.post(f"{API}/jobs/batch", headers=headers, json={"jobs": entries})
    assert batch.status_code == 200, batch.text
    accepted, refused = batch.json()["jobs"]
    assert refused["problem"]["type"].endswith("/remote-image-refused"), refused
    for job_id in (form.json()["id"], accepted["job"]["id"]):
        assert stack.wait_job(key, job_id)["status"] == "succeeded"
