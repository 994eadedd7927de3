"""Metrics and traces of real processes on RabbitMQ, PostgreSQL and S3: a gateway and a worker
are scraped after a job, the dashboard's and rules' metrics are among what they export, and one
trace id crosses the broker from the gateway process to the worker process."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port, make_image, wait_for
from unit.deploy.monitoring_support import exported_names, queried_metric_names, sample_value

from integration.conftest import Process, Services, Stack, create_key

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def submit(base_url: str, key: str) -> str:
    response = httpx.post(
        f"{base_url}{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        files={"image": ("a.jpg", make_image(640, 480, "JPEG"), "image/jpeg")},
        data={"formats": "instagram.feed_square"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_succeeded(base_url: str, key: str, job_id: str) -> None:
    def status() -> str | None:
        body = httpx.get(
            f"{base_url}{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        value = body.json()["status"]
        return value if value in ("succeeded", "failed", "canceled") else None

    assert wait_for(status, timeout=120, interval=0.2, what=f"job {job_id}") == "succeeded"


def scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def test_gateway_and_worker_export_what_the_dashboard_and_alerts_query(stack: Stack) -> None:
    port = free_port()
    worker = stack.worker("social", IMAGESTUDIO_METRICS_PORT=str(port))
    worker_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: scrape(f"{worker_url}/healthz"), timeout=60, interval=0.2, what="the worker's /healthz")
    wait_succeeded(stack.base_url, stack.key, submit(stack.base_url, stack.key))

    def worker_counted() -> str | None:
        text = scrape(f"{worker_url}/metrics")
        done = text and sample_value(
            text, "imagestudio_jobs_finished_total", studio="social", status="succeeded"
        )
        return text if done else None

    worker_text = wait_for(worker_counted, timeout=30, what="the worker to count the job")
    assert (sample_value(worker_text, "imagestudio_job_duration_seconds_count", studio="social") or 0) >= 1
    assert (sample_value(worker_text, "imagestudio_job_queued_seconds_count", studio="social") or 0) >= 1
    assert (
        sample_value(worker_text, "imagestudio_messages_total", queue="social", actor="social.run_job") or 0
    ) >= 1

    gateway_text = scrape(f"{stack.base_url}/metrics")
    assert gateway_text is not None
    assert sample_value(gateway_text, "imagestudio_broker_up") == 1.0
    # The session's database and vhost are shared with other tests: present, not necessarily empty.
    assert (sample_value(gateway_text, "imagestudio_queue_consumers", queue="social") or 0) >= 1, (
        worker.output()
    )
    for state in ("ready", "delayed", "dead_letter"):
        assert (
            sample_value(gateway_text, "imagestudio_queue_messages", queue="social", state=state) is not None
        )
    assert sample_value(gateway_text, "imagestudio_queue_oldest_job_age_seconds", studio="social") is not None
    assert (sample_value(gateway_text, "imagestudio_jobs_accepted_total", studio="social") or 0) >= 1

    missing = queried_metric_names() - exported_names(gateway_text) - exported_names(worker_text)
    assert not missing, f"the dashboard or the rules query metrics nobody exports: {sorted(missing)}"


def console_spans(output: str) -> list[dict[str, Any]]:
    """Spans the console exporter printed (indented JSON objects between lone braces)."""
    spans, block = [], None
    for line in output.splitlines():
        if line == "{":
            block = [line]
        elif block is not None:
            block.append(line)
            if line == "}":
                spans.append(json.loads("\n".join(block)))
                block = None
    return spans


def test_one_trace_crosses_the_broker_from_gateway_process_to_worker_process(
    services: Services, tmp_path: Path
) -> None:
    env = {**services.env, "IMAGESTUDIO_TRACES_EXPORTER": "console", "IMAGESTUDIO_METRICS_PORT": "0"}
    port = free_port()
    gateway = Process(["up", "--port", str(port)], env, tmp_path / "gateway.log")
    worker = Process(["worker", "social"], env, tmp_path / "worker.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: scrape(f"{base_url}/healthz"), timeout=60, interval=0.2, what="the gateway")
        key = create_key(env, f"trace-{uuid.uuid4().hex[:6]}")
        job_id = submit(base_url, key)
        wait_succeeded(base_url, key, job_id)

        def job_spans() -> tuple[dict[str, Any], dict[str, Any]] | None:
            publish = [
                s
                for s in console_spans(gateway.output())
                if s["name"] == "publish social" and s["attributes"].get("imagestudio.job_id") == job_id
            ]
            run = [
                s
                for s in console_spans(worker.output())
                if s["name"] == "social.run_job" and s["attributes"].get("imagestudio.job_id") == job_id
            ]
            return (publish[0], run[0]) if publish and run else None

        # The batch exporters flush every few seconds.
        publish, run = wait_for(
            job_spans, timeout=30, interval=0.5, what="both processes to print the job's spans"
        )
        assert run["context"]["trace_id"] == publish["context"]["trace_id"]
        assert run["parent_id"] == publish["context"]["span_id"]
        assert run["resource"]["attributes"]["service.name"] == "imagestudio-social-worker"
        assert publish["resource"]["attributes"]["service.name"] == "imagestudio-gateway"
        puts = [
            s
            for s in console_spans(worker.output())
            if s["name"] == "storage.put" and s["context"]["trace_id"] == run["context"]["trace_id"]
        ]
        assert puts, "the worker's S3 writes are in the job's trace"
    finally:
        worker.stop()
        gateway.stop()
