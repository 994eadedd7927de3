"""Create studio: the worker's own time per image, as a ratio to the provider (simulator) latency.

Distributed mode on loopback: gateway and one create-worker process (PostgreSQL, RabbitMQ, S3),
the Hugging Face SIMULATOR served from this process. Jobs run one at a time (JOBS jobs of
IMAGES_PER_JOB images per scenario, bounded by a time cap). For each job the worker's time is
``finished_at - started_at``; the provider's share is the sum of the ``provider_seconds`` the
worker recorded per image (the HTTP round trip to the simulator, which renders a real image).
Overhead = worker time - provider time: claim, circuit-breaker rows, progress, post-processing,
the S3 upload and the asset row. Scenarios: the provider's native size (bytes stored as they
come) and a template size (smart crop + resize + PNG re-encode to exactly 1080x1080).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import httpx
from _services import BIN, ROOT, distributed_env, free_port, process

from imagestudio.providers import GenerationRequest, HuggingFaceClient
from simulators import HuggingFaceSimulator, run_in_thread

JOBS = 5
IMAGES_PER_JOB = 4
TIME_CAP_SECONDS = 300
PROMPT = "a lighthouse on a cliff at dawn, waves below"
SCENARIOS: dict[str, dict[str, Any]] = {
    "native_1024": {"aspect_ratio": "1:1"},
    "template_1080_resized": {"template_id": "instagram_feed_square"},
}


def _seconds(job: dict[str, Any]) -> float:
    return (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()


def direct_latency(base_url: str, api_key: str, rounds: int = 10) -> float:
    """Median seconds of one image straight from the simulator with our client (no worker)."""
    with HuggingFaceClient(api_key=api_key, base_url=base_url) as client:
        request = GenerationRequest(
            prompt=PROMPT, model="black-forest-labs/FLUX.1-schnell", width=1024, height=1024, seed=1
        )
        client.generate(request)  # warm-up
        times = []
        for index in range(rounds):
            started = time.perf_counter()
            client.generate(request.model_copy(update={"seed": 100 + index}))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_scenario(client: httpx.Client, base: str, extra: dict[str, Any], deadline: float) -> dict[str, Any]:
    worker_s = provider_s = end_to_end_s = 0.0
    images = 0
    for index in range(JOBS):
        if time.monotonic() > deadline:
            break
        body = {
            "prompt": PROMPT,
            "provider": "huggingface",
            "quality": "draft",
            "count": IMAGES_PER_JOB,
            "seed": 1000 + index * 10,
            **extra,
        }
        submitted = time.perf_counter()
        job = client.post(f"{base}/create", json=body).json()
        while job["status"] not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError("time cap reached waiting for a job")
            time.sleep(0.02)
            job = client.get(f"{base}/jobs/{job['id']}").json()
        end_to_end_s += time.perf_counter() - submitted
        if job["status"] != "succeeded" or len(job["outputs"]) != body["count"]:
            raise RuntimeError(
                f"job did not make every image: {job.get('error') or job['params'].get('results')}"
            )
        worker_s += _seconds(job)
        provider_s += sum(output["metadata"]["provider_seconds"] for output in job["outputs"])
        images += len(job["outputs"])
    overhead = (worker_s - provider_s) / images
    provider = provider_s / images
    return {
        "images": images,
        "provider_ms_per_image": round(provider * 1000, 1),
        "worker_overhead_ms_per_image": round(overhead * 1000, 1),
        "ratio_overhead_to_provider": round(overhead / provider, 3),
        "end_to_end_ms_per_image": round(end_to_end_s * 1000 / images, 1),
    }


def main() -> dict[str, Any]:
    simulator = HuggingFaceSimulator()
    running = run_in_thread(simulator.app)
    try:
        direct = direct_latency(running.base_url, simulator.api_key)
        gateway_port, metrics_port = free_port(), free_port()
        with distributed_env() as env:
            env = {
                **env,
                "IMAGESTUDIO_HUGGINGFACE_API_KEY": simulator.api_key,
                "IMAGESTUDIO_HUGGINGFACE_BASE_URL": running.base_url,
            }
            gateway = [str(BIN / "imagestudio"), "up", "--port", str(gateway_port)]
            worker = [str(BIN / "imagestudio"), "worker", "create", "--threads", "1"]
            with (
                process(gateway, env, f"http://127.0.0.1:{gateway_port}/healthz"),
                process(
                    worker,
                    {**env, "IMAGESTUDIO_METRICS_PORT": str(metrics_port)},
                    f"http://127.0.0.1:{metrics_port}/healthz",
                ),
            ):
                out = subprocess.run(
                    [str(BIN / "imagestudio"), "keys", "create", "--tenant", "bench", "--tier", "enterprise"],
                    env={**env, "NO_COLOR": "1"},
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                ).stdout
                key = re.search(r"(isk_[A-Za-z0-9_-]+)", out)
                assert key, out
                base = f"http://127.0.0.1:{gateway_port}/api/image-studio"
                client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key.group(1)}"})
                deadline = time.monotonic() + TIME_CAP_SECONDS
                run_scenario(client, base, {"count": 1, **SCENARIOS["native_1024"]}, deadline)  # warm-up
                results = {
                    name: run_scenario(client, base, extra, deadline) for name, extra in SCENARIOS.items()
                }
    finally:
        running.stop()
    return {
        "provider": "huggingface SIMULATOR on loopback (FLUX.1-schnell request, 1024x1024 PNG render)",
        "direct_client_ms_per_image": round(direct * 1000, 1),
        **results,
        "note": "overhead = worker time (started_at..finished_at) minus time inside provider calls",
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
