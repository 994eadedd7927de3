"""Live job events across processes: the gateway streams what a worker process writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import make_image

from integration.conftest import Stack

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse an SSE response as it arrives."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields and "id" in fields:  # job.queue frames carry no id
                yield {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def test_sse_follows_a_job_run_by_a_worker_process_and_resumes(stack: Stack) -> None:
    submitted = httpx.post(
        f"{stack.base_url}{API}/social/optimize",
        headers=stack.headers(),
        files={"image": ("a.jpg", make_image(640, 480, "JPEG"), "image/jpeg")},
        data={"formats": "instagram.feed_square,instagram.story,youtube.thumbnail"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    url = f"{stack.base_url}{API}/jobs/{job_id}/events"
    seen: list[dict[str, Any]] = []
    worker = None
    with httpx.stream("GET", url, headers=stack.headers(), timeout=httpx.Timeout(10, read=120)) as response:
        assert response.status_code == 200
        for event in sse_events(response):
            seen.append(event)
            if worker is None:
                # The stream is live before any worker exists; the job runs in another process.
                assert event["event"] == "job.queued"
                worker = stack.worker()
    types = [e["event"] for e in seen]
    assert types[:2] == ["job.queued", "job.running"] and types[-1] == "job.succeeded", (
        types,
        worker and worker.output(),
    )
    assert sum(t == "job.progress" for t in types) >= 3
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids)

    running = seen[1]["id"]
    with httpx.stream(
        "GET",
        url,
        headers={**stack.headers(), "Last-Event-ID": str(running)},
        timeout=httpx.Timeout(10, read=60),
    ) as response:
        resumed = list(sse_events(response))
    assert [e["id"] for e in resumed] == ids[2:]
    done = httpx.get(url, headers={**stack.headers(), "Last-Event-ID": str(ids[-1])}, timeout=10)
    assert done.status_code == 204


def test_prefer_wait_returns_the_job_finished_by_a_worker_process(stack: Stack) -> None:
    stack.worker()
    response = httpx.post(
        f"{stack.base_url}{API}/social/optimize",
        headers={**stack.headers(), "Prefer": "wait=60"},
        files={"image": ("a.jpg", make_image(640, 480, "JPEG"), "image/jpeg")},
        data={"formats": "instagram.feed_square"},
        timeout=90,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded" and response.json()["outputs"]
