"""The create studio end to end on real services: gateway → outbox → RabbitMQ → create-worker process
→ provider simulators on loopback (in this test process) → S3, with faults scripted per test."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from support import every_simulator, wait_for

from integration.conftest import Process, Services, create_key, reset_simulators, simulated_gateway
from simulators import (
    GeminiSimulator,
    HuggingFaceSimulator,
    StabilitySimulator,
    WaveSpeedSimulator,
)

pytestmark = pytest.mark.integration

API = "/api/image-studio"
Simulator = StabilitySimulator | WaveSpeedSimulator | HuggingFaceSimulator | GeminiSimulator

#: Worker tuning for tests: short waits, two attempts per provider, a circuit that opens after two
#: failures and cools down in a few seconds.
WORKER_ENV = {
    "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.05",
    "IMAGESTUDIO_PROVIDER_MAX_ATTEMPTS": "2",
    "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
    "IMAGESTUDIO_PROVIDER_POLL_INTERVAL_SECONDS": "0.05",
    "IMAGESTUDIO_PROVIDER_TIMEOUT_SECONDS": "20",
    "IMAGESTUDIO_CIRCUIT_FAILURE_THRESHOLD": "2",
    "IMAGESTUDIO_CIRCUIT_COOLDOWN_SECONDS": "8",
    "IMAGESTUDIO_METRICS_PORT": "0",
    # A killed worker's lease lapses within seconds, so its redelivered message is taken over soon.
    "IMAGESTUDIO_JOB_LEASE_SECONDS": "5",
}
#: Deliveries per job: the gateway stamps it on the job at submission, so both processes get it.
SHARED_ENV = {"IMAGESTUDIO_JOB_MAX_ATTEMPTS": "2"}


@dataclass
class CreateStack:
    base_url: str
    key: str
    services: Services
    sims: dict[str, Simulator]
    worker: Process
    #: The worker's environment, to start a replacement.
    worker_env: dict[str, str]
    tmp: Path

    def replace_worker(self) -> Process:
        """SIGKILL the create-worker (no chance to ack or record anything) and start another."""
        self.worker.kill()
        self.worker.stop()
        self.worker = Process(
            ["worker", "create"], self.worker_env, self.tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        )
        return self.worker

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.base_url}{API}/create", json=body, headers=self.headers(), timeout=30)
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"{API}/jobs/{response.json()['id']}"
        return response.json()  # type: ignore[no-any-return]

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(
            f"{self.base_url}{API}{path}", params=params, headers=self.headers(), timeout=30
        ).json()

    def finished(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job: dict[str, Any] = self.get(f"/jobs/{job_id}")
            return job if job["status"] in ("succeeded", "failed", "canceled") else None

        try:
            return wait_for(done, timeout=timeout, interval=0.1, what=f"job {job_id} to finish")  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker ---\n{self.worker.output()[-5000:]}") from None

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.finished(self.submit(body)["id"])

    def circuit(self, provider: str) -> dict[str, Any]:
        listing = self.get("/providers")["providers"]
        return next(p for p in listing if p["name"] == provider)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def create_stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CreateStack]:
    """Simulators here on loopback; a gateway and one create-worker process pointed at them."""
    sims: dict[str, Simulator] = every_simulator()
    tmp: Path = tmp_path_factory.mktemp("create")
    with simulated_gateway(sims, services.env, SHARED_ENV, tmp / "gateway.log") as (base_url, env):
        worker = Process(["worker", "create"], {**env, **WORKER_ENV}, tmp / "worker.log")
        try:
            key = create_key(services.env, f"create-{uuid.uuid4().hex[:6]}")
            stack = CreateStack(base_url, key, services, sims, worker, {**env, **WORKER_ENV}, tmp)
            yield stack
            worker = stack.worker  # a test may have replaced it
        finally:
            worker.stop()


@pytest.fixture
def stack(create_stack: CreateStack) -> CreateStack:
    """Each test starts with no scripted faults, empty call logs and every circuit closed."""
    reset_simulators(create_stack.sims, create_stack.services.database_url)
    return create_stack


def outputs(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {output["name"]: output for output in job["outputs"]}


def test_rate_limit_then_success_through_rabbitmq_to_s3(stack: CreateStack) -> None:
    stability = stack.sims["stability"]
    stability.faults.push({"status": 429, "retry_after": 0.2, "path": "/generate/"})
    job = stack.run(
        {"prompt": "a lighthouse at dawn", "provider": "stability", "template_id": "linkedin_post"}
    )
    assert job["status"] == "succeeded", job
    assert stability.calls.count("/v2beta/stable-image/generate/ultra") == 2
    [image] = job["outputs"]
    assert image["metadata"]["attempts"] == 2
    # The worker was given a key and a URL like a real provider's, yet it records the simulator.
    assert image["metadata"]["provider"] == "stability" and image["metadata"]["simulated"] is True
    data = httpx.get(image["url"], timeout=10).content
    assert image["url"].startswith("http://127.0.0.1:") and "X-Amz-Signature=" in image["url"]
    assert Image.open(io.BytesIO(data)).size == (1200, 628) == (image["width"], image["height"])
    listing = stack.circuit("stability")
    assert listing["configured"] and listing["status"] == "simulated"


def test_provider_down_auto_falls_back_and_records_it(stack: CreateStack) -> None:
    stability = stack.sims["stability"]
    stability.faults.push(*[{"status": 503, "path": "/generate/"}] * 2)
    job = stack.run({"prompt": "a lighthouse at dawn", "count": 2})
    assert job["status"] == "succeeded", job
    first, second = job["params"]["candidates"][:2]
    assert first["provider"] == "stability"
    assert stability.calls.count("/generate/") == 2  # two attempts, then the next provider
    [fallback] = job["params"]["results"]["fallbacks"]
    assert (fallback["provider"], fallback["variations"]) == ("stability", [1])
    assert "unavailable (503)" in fallback["reason"]
    for output in job["outputs"]:
        assert output["metadata"]["provider"] == second["provider"]
        assert output["metadata"]["fallback_from"] == [
            {"provider": "stability", "model": "core", "reason": fallback["reason"]}
        ]
    assert job["params"]["results"]["providers_used"] == [second["provider"]]


def test_circuit_opens_is_skipped_and_later_closes(stack: CreateStack) -> None:
    stability = stack.sims["stability"]
    stability.faults.push(*[{"status": 500, "path": "/generate/"}] * 2)
    failed = stack.run({"prompt": "a lighthouse", "provider": "stability"})
    # Delivery 1 spent both attempts and opened the circuit; delivery 2 found it open.
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["error"]["title"] == "Provider circuit open"
    assert stability.calls.count("/generate/") == 2
    health = stack.circuit("stability")["health"]
    assert health["state"] == "open" and health["consecutive_failures"] >= 2 and health["opened_at"]

    served = stack.run({"prompt": "a lighthouse"})  # auto: the open circuit is ranked last
    assert served["status"] == "succeeded" and served["outputs"][0]["metadata"]["provider"] != "stability"
    assert stability.calls.count("/generate/") == 2

    wait_for(
        lambda: stack.circuit("stability")["health"]["state"] == "half_open", timeout=60, what="the cool-down"
    )
    trial = stack.run({"prompt": "a lighthouse", "provider": "stability"})
    assert trial["status"] == "succeeded", trial
    health = stack.circuit("stability")["health"]
    assert (health["state"], health["consecutive_failures"]) == ("closed", 0)


def test_wavespeed_prediction_is_polled_until_complete(stack: CreateStack) -> None:
    wavespeed = stack.sims["wavespeed"]
    wavespeed.faults.push({"stay_in_progress": 4, "path": "/api/v3/ideogram-ai/"})
    job = stack.run(
        {
            "prompt": "a poster that says HELLO",
            "provider": "wavespeed",
            "quality": "premium",
            "aspect_ratio": "16:9",
        }
    )
    assert job["status"] == "succeeded", job
    assert wavespeed.calls.count("/api/v3/ideogram-ai/ideogram-v3-turbo", method="POST") == 1
    assert wavespeed.calls.count("/api/v3/predictions/", method="GET") == 5  # 4 in progress, then completed
    [image] = job["outputs"]
    assert image["metadata"]["model"] == "ideogram-v3-turbo"
    assert abs(image["width"] / image["height"] - 16 / 9) < 0.01


def test_batch_of_ten_is_split_across_calls(stack: CreateStack) -> None:
    gemini = stack.sims["gemini"]
    job = stack.run({"prompt": "a lighthouse", "provider": "gemini", "num_variations": 10})
    assert job["status"] == "succeeded", job
    assert gemini.calls.count(":generateContent", method="POST") == 10  # one image per call
    assert sorted(outputs(job)) == [f"image-{i:02d}" for i in range(1, 11)]
    results = job["params"]["results"]
    assert (results["succeeded"], results["failed"], results["credits"]) == (10, 0, 70)
    assert [v["variation"] for v in results["variations"]] == list(range(1, 11))


def test_content_filter_fails_the_job_at_once(stack: CreateStack) -> None:
    stability = stack.sims["stability"]
    stability.faults.push({"content_filter": True, "path": "/generate/"})
    job = stack.run({"prompt": "something the filter refuses", "provider": "stability", "count": 3})
    assert job["status"] == "failed"
    assert job["attempts"] == 1 and stability.calls.count("/generate/") == 1
    assert job["error"]["type"].endswith("/content-filtered") and job["error"]["provider"] == "stability"
    assert "content moderation" in job["error"]["detail"]
    assert job["params"]["results"]["failed"] == 3


def test_long_retry_after_reschedules_the_job_instead_of_sleeping(stack: CreateStack) -> None:
    hf = stack.sims["huggingface"]
    hf.faults.push({"status": 429, "retry_after": 2})  # longer than the worker may hold a thread
    job = stack.run({"prompt": "a lighthouse", "provider": "huggingface"})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and hf.calls.count("/fal-ai/") == 2


def test_image_to_image_batch_reads_one_upload_and_honours_strength_zero(stack: CreateStack) -> None:
    from support import make_image

    created = httpx.post(
        f"{stack.base_url}{API}/uploads",
        headers=stack.headers(),
        files={"file": ("in.png", make_image(600, 400), "image/png")},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    init = created.json()["id"]
    batch = httpx.post(
        f"{stack.base_url}{API}/jobs/batch",
        headers=stack.headers(),
        json={
            "jobs": [
                {
                    "studio": "create",
                    "params": {
                        "prompt": "a fox",
                        "init_image": init,
                        "strength": 0.0,
                        "count": 2,
                        "provider": "stability",
                    },
                },
                {
                    "studio": "create",
                    "params": {
                        "prompt": "a wolf",
                        "init_image": init,
                        "strength": 0.8,
                        "provider": "stability",
                    },
                },
                {"studio": "create", "params": {"prompt": "a cat", "init_image": init, "strength": 1.5}},
                {
                    "studio": "create",
                    "params": {"prompt": "a cat", "init_image": init, "provider": "huggingface"},
                },
            ]
        },
        timeout=30,
    )
    assert batch.status_code == 200, batch.text
    entries = batch.json()["jobs"]
    assert [entry["status"] for entry in entries] == [202, 202, 422, 422]
    assert entries[3]["problem"]["field"] == "provider"
    zero, high = (stack.finished(entry["job"]["id"]) for entry in entries[:2])
    assert zero["status"] == high["status"] == "succeeded", (zero, high)
    assert [o["metadata"]["strength"] for o in zero["outputs"]] == [0.0, 0.0]
    assert high["outputs"][0]["metadata"]["strength"] == 0.8
    assert stack.sims["stability"].calls.count("/v2beta/stable-image/generate/sd3") == 3
    for job in (zero, high):
        for output in job["outputs"]:
            assert output["metadata"]["provider"] == "stability" and output["metadata"]["simulated"] is True
            assert abs(output["width"] / output["height"] - 1.5) < 0.01  # the init image's shape


def test_worker_killed_while_polling_resumes_the_same_wavespeed_prediction(stack: CreateStack) -> None:
    wavespeed = stack.sims["wavespeed"]
    submit_path = "/api/v3/wavespeed-ai/qwen-image/text-to-image"
    wavespeed.faults.push({"stay_in_progress": 10_000, "path": submit_path})
    job = stack.submit({"prompt": "a lighthouse", "provider": "wavespeed", "model": "qwen-image"})

    def stored_prediction() -> str | None:
        predictions = stack.get(f"/jobs/{job['id']}")["params"].get("predictions") or {}
        return str(predictions["0"]["remote_id"]) if "0" in predictions else None

    remote_id = wait_for(stored_prediction, timeout=60, interval=0.1, what="the prediction to be stored")
    wait_for(
        lambda: wavespeed.calls.count(f"/predictions/{remote_id}", method="GET") >= 2,
        timeout=60,
        interval=0.1,
        what="the worker to be polling",
    )
    stack.replace_worker()
    prediction = wavespeed.jobs.get(remote_id)
    assert prediction is not None
    prediction.polls_left = 0  # it finishes while no worker is looking

    done = stack.finished(job["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2  # the killed delivery, then the redelivered message
    assert wavespeed.calls.count(submit_path, method="POST") == 1
    [output] = done["outputs"]
    assert output["metadata"]["provider"] == "wavespeed"
