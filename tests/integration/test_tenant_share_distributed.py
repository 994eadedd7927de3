"""Fairness on real services: one tenant's backlog does not hold up another tenant's job.

Tenant A has 200 compress jobs queued on RabbitMQ, each holding a worker thread for seconds; tenant
B submits one. A runs at most its share of the worker's threads (``worker_threads - 1``), the
rest of its messages are put back behind B's, so B's job starts within 5 s (the one timed
assertion here, the figure issue 24 asks for).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from support import wait_for

from integration.conftest import Stack, auth, create_key, job_of, moment, tiny_png

pytestmark = pytest.mark.integration

API = "/api/image-studio"
#: A's backlog, and the seconds each of its jobs holds a thread (the worker's test-only delay).
BACKLOG = 200
JOB_SECONDS = 3


def running(stack: Stack, key: str) -> bool:
    response = httpx.get(
        f"{stack.base_url}{API}/jobs", headers=auth(key), params={"status": "running", "limit": 1}, timeout=10
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["items"])


def test_another_tenants_job_starts_within_5_s_while_one_tenant_has_200_queued(stack: Stack) -> None:
    key_a = create_key(stack.services.env, f"flood-{uuid.uuid4().hex[:6]}", tier="enterprise")
    key_b = stack.key
    upload = httpx.post(
        f"{stack.base_url}{API}/uploads",
        headers=auth(key_a),
        files={"file": ("tiny.png", tiny_png(), "image/png")},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    entry = {"studio": "compress", "params": {"image": upload.json()["id"], "quality": 80}}
    flood: list[str] = []
    for _ in range(BACKLOG // 100):
        batch = httpx.post(
            f"{stack.base_url}{API}/jobs/batch", headers=auth(key_a), json={"jobs": [entry] * 100}, timeout=60
        )
        assert batch.status_code == 200, batch.text
        flood += [e["job"]["id"] for e in batch.json()["jobs"] if e["status"] == 202]
    assert len(flood) == BACKLOG

    # Two threads: A may run one job at a time, the other thread is left to everyone else.
    worker = stack.worker(
        "compress",
        IMAGESTUDIO_WORKER_THREADS="2",
        IMAGESTUDIO_DEBUG_OUTPUT_DELAY_SECONDS=str(JOB_SECONDS),
    )
    try:
        wait_for(
            lambda: running(stack, key_a),
            timeout=60,
            interval=0.2,
            what="the worker to start on A's backlog",
        )
        submitted = httpx.post(
            f"{stack.base_url}{API}/compress",
            headers=auth(key_b),
            files={"image": ("b.png", tiny_png(), "image/png")},
            data={"quality": "80"},
            timeout=30,
        )
        assert submitted.status_code == 202, submitted.text
        b_id = submitted.json()["id"]
        started = wait_for(
            lambda: job_of(stack, key_b, b_id)["started_at"] and job_of(stack, key_b, b_id),
            timeout=30,
            interval=0.1,
            what="B's job to start while A's backlog waits",
        )
        waited = (moment(started["started_at"]) - moment(started["created_at"])).total_seconds()
        assert waited < 5, f"B's job waited {waited:.1f} s to start\n{worker.output()[-3000:]}"
        done = wait_for(
            lambda: (
                job_of(stack, key_b, b_id)["status"] in ("succeeded", "failed") and job_of(stack, key_b, b_id)
            ),
            timeout=60,
            interval=0.2,
            what="B's job to finish",
        )
        assert done["status"] == "succeeded", done
        # A still had most of its backlog queued: none of it failed or spent an attempt waiting.
        a_jobs = [job_of(stack, key_a, job_id) for job_id in flood]
        assert sum(j["status"] == "queued" for j in a_jobs) > BACKLOG // 2
        assert all(j["status"] != "failed" and int(j["attempts"]) <= 1 for j in a_jobs)  # type: ignore[call-overload]
    finally:
        # Cancel what is left of A's backlog: its messages are dropped cheaply by later workers.
        for job_id in flood:
            httpx.post(f"{stack.base_url}{API}/jobs/{job_id}/cancel", headers=auth(key_a), timeout=10)
