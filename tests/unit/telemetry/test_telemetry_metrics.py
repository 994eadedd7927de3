"""Job, message and queue metrics from the embedded stack; the worker endpoint; multi-process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from social_submit_support import submit
from support import Embedded, wait_for

from imagestudio.telemetry.metrics import start_metrics_server
from imagestudio.telemetry.queues import QueueStats, QueueStatsCollector, queue_stats


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(embedded: Embedded) -> str:
    queue_stats.reset()  # a fresh probe, not the cached one
    response = embedded.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.fixture
def fresh_queue_stats() -> Iterator[None]:
    queue_stats.reset()
    yield
    queue_stats.reset()


def test_finished_job_counts_start_outcome_duration_and_queued_time(
    embedded: Embedded, fresh_queue_stats: None
) -> None:
    before = {
        "started": value("imagestudio_jobs_started_total", studio="social"),
        "succeeded": value(
            "imagestudio_jobs_finished_total", studio="social", status="succeeded", reason="", provider=""
        ),
        "duration": value("imagestudio_job_duration_seconds_count", studio="social"),
        "queued": value("imagestudio_job_queued_seconds_count", studio="social"),
        "messages": value("imagestudio_messages_total", queue="social", actor="social.run_job"),
        "accepted": value("imagestudio_jobs_accepted_total", studio="social"),
    }
    key = embedded.new_key()
    job_id = submit(embedded, key)
    embedded.start_worker()
    assert embedded.wait_job(key, job_id)["status"] == "succeeded"
    wait_for(
        lambda: (
            value("imagestudio_messages_total", queue="social", actor="social.run_job") > before["messages"]
        ),
        what="the message's after-hook",
    )
    assert value("imagestudio_jobs_started_total", studio="social") == before["started"] + 1
    assert (
        value("imagestudio_jobs_finished_total", studio="social", status="succeeded", reason="", provider="")
        == before["succeeded"] + 1
    )
    assert value("imagestudio_job_duration_seconds_count", studio="social") == before["duration"] + 1
    assert value("imagestudio_job_queued_seconds_count", studio="social") == before["queued"] + 1
    assert value("imagestudio_jobs_accepted_total", studio="social") == before["accepted"] + 1
    assert value("imagestudio_messages_in_progress", queue="social", actor="social.run_job") == 0

    text = scrape(embedded)
    assert any(
        line.startswith("imagestudio_http_requests_total{") and "optimize" in line and 'status="202"' in line
        for line in text.splitlines()
    )
    assert 'imagestudio_queue_messages{queue="social",state="ready"} 0.0' in text
    assert 'imagestudio_queue_oldest_job_age_seconds{studio="social"} 0.0' in text
    assert "imagestudio_outbox_pending_messages 0.0" in text
    assert "imagestudio_broker_up 1.0" in text


def test_queue_depth_and_oldest_job_age_while_no_worker_runs(
    embedded: Embedded, fresh_queue_stats: None
) -> None:
    key = embedded.new_key()
    submit(embedded, key)
    submit(embedded, key)

    def queued_twice() -> str | None:
        text = scrape(embedded)
        return text if 'imagestudio_queue_messages{queue="social",state="ready"} 2.0' in text else None

    text = wait_for(queued_twice, what="two messages in the social queue")
    age = next(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('imagestudio_queue_oldest_job_age_seconds{studio="social"}')
    )
    assert age > 0
    assert 'imagestudio_queue_messages{queue="social",state="dead_letter"} 0.0' in text


def test_queue_probe_is_cached_between_scrapes() -> None:
    calls: list[int] = []
    now = [100.0]

    def probe() -> QueueStats:
        calls.append(1)
        return QueueStats(messages={("social", "ready"): len(calls)}, broker_up=True)

    collector = QueueStatsCollector(cache_seconds=5, probe=probe, clock=lambda: now[0])
    for _ in range(3):
        list(collector.collect())
    assert len(calls) == 1
    now[0] += 5
    families = {f.name: f for f in collector.collect()}
    assert len(calls) == 2
    assert families["imagestudio_queue_messages"].samples[0].value == 2


def test_worker_endpoint_serves_metrics_health_and_yields_a_taken_port() -> None:
    healthy = [True]
    server = start_metrics_server(0, healthy=lambda: healthy[0])
    assert server is not None
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200 and "imagestudio_jobs_finished_total" in metrics.text
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        healthy[0] = False
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 503
        assert httpx.get(f"{base}/nothing", timeout=5).status_code == 404
        assert start_metrics_server(server.port) is None  # another process serves this host
    finally:
        server.stop()


def test_multiprocess_dir_aggregates_every_worker_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    record = textwrap.dedent(
        """
        from imagestudio.telemetry.metrics import JOBS_STARTED, MESSAGES_IN_PROGRESS, multiprocess_mode
        assert multiprocess_mode()
        JOBS_STARTED.labels("social").inc()
        MESSAGES_IN_PROGRESS.labels("social", "social.run_job").inc()
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, check=True, timeout=60)
    render = textwrap.dedent(
        """
        from imagestudio.telemetry.metrics import render_metrics
        print(render_metrics()[0].decode())
        """
    )
    text = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert 'imagestudio_jobs_started_total{studio="social"} 2.0' in text
