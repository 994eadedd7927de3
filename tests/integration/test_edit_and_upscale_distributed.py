"""Edit, upscale and control end to end on real services: gateway process → outbox → RabbitMQ → edit-,
upscale- and control-worker processes → provider SIMULATORS on loopback (in this test process) or the
local path → S3."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from PIL import Image, ImageDraw
from support import make_image, wait_for

from integration.conftest import Process, Services, create_key, reset_simulators, simulated_gateway
from simulators import StabilitySimulator, WaveSpeedSimulator

pytestmark = pytest.mark.integration

API = "/api/image-studio"

#: Short waits for tests: two attempts per provider call, polls every 0.2 s.
WORKER_ENV = {
    "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.05",
    "IMAGESTUDIO_PROVIDER_MAX_ATTEMPTS": "2",
    "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
    "IMAGESTUDIO_PROVIDER_TIMEOUT_SECONDS": "20",
    "IMAGESTUDIO_ASYNC_POLL_INTERVAL_SECONDS": "0.2",
    "IMAGESTUDIO_METRICS_PORT": "0",
}
#: The gateway's relay publishes the poll messages workers stage: sweep often.
GATEWAY_ENV = {"IMAGESTUDIO_OUTBOX_POLL_SECONDS": "0.1", "IMAGESTUDIO_JOB_MAX_ATTEMPTS": "3"}


def png(width: int = 320, height: int = 256) -> bytes:
    return make_image(width, height)


def mask_png(width: int = 320, height: int = 256) -> bytes:
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle((width // 3, height // 3, 2 * width // 3, 2 * height // 3), fill=255)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def product_png(width: int = 320, height: int = 256) -> bytes:
    image = Image.new("RGB", (width, height), (235, 235, 230))
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(200, 30, 40)
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Distributed:
    base_url: str
    key: str
    services: Services
    sims: dict[str, Any]
    workers: dict[str, Process]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def post(self, route: str, data: dict[str, Any], files: dict[str, bytes]) -> httpx.Response:
        multipart = {name: (f"{name}.png", content, "image/png") for name, content in files.items()}
        form = {name: str(value) for name, value in data.items()}
        return httpx.post(
            f"{self.base_url}{API}/{route}", data=form, files=multipart, headers=self.headers(), timeout=60
        )

    def get(self, path: str) -> dict[str, Any]:
        return httpx.get(f"{self.base_url}{API}{path}", headers=self.headers(), timeout=30).json()  # type: ignore[no-any-return]

    def submit(self, route: str, data: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        response = self.post(route, data, files)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def finished(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job = self.get(f"/jobs/{job_id}")
            return job if job["status"] in ("succeeded", "failed", "canceled") else None

        try:
            return wait_for(done, timeout=timeout, interval=0.1, what=f"job {job_id} to finish")  # type: ignore[no-any-return]
        except AssertionError as exc:
            logs = "\n".join(f"--- {n} ---\n{w.output()[-4000:]}" for n, w in self.workers.items())
            raise AssertionError(f"{exc}\n{logs}") from None

    def run(self, route: str, data: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return self.finished(self.submit(route, data, files)["id"])

    def counts(self) -> tuple[int, int]:
        """(jobs, outbox messages) in the database."""
        with psycopg.connect(self.services.database_url, autocommit=True) as conn:
            jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()
            outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()
        assert jobs is not None and outbox is not None
        return int(jobs[0]), int(outbox[0])


def download(output: dict[str, Any]) -> Image.Image:
    response = httpx.get(output["url"], timeout=30)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


@pytest.fixture(scope="module")
def distributed(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distributed]:
    """Simulators here on loopback; a gateway, an edit worker and a one-thread upscale worker pointed at them."""
    sims: dict[str, Any] = {
        "stability": StabilitySimulator(),
        "wavespeed": WaveSpeedSimulator(in_progress_polls=1),
    }
    tmp: Path = tmp_path_factory.mktemp("edit-upscale")
    workers: dict[str, Process] = {}
    with simulated_gateway(sims, services.env, GATEWAY_ENV, tmp / "gateway.log") as (base_url, env):
        try:
            workers["edit"] = Process(["worker", "edit"], {**env, **WORKER_ENV}, tmp / "edit-worker.log")
            # One thread: a creative upscale waiting at the provider must not keep it busy.
            workers["upscale"] = Process(
                ["worker", "upscale", "--threads", "1"], {**env, **WORKER_ENV}, tmp / "upscale-worker.log"
            )
            workers["control"] = Process(
                ["worker", "control"], {**env, **WORKER_ENV}, tmp / "control-worker.log"
            )
            key = create_key(services.env, f"edit-{uuid.uuid4().hex[:6]}")
            yield Distributed(base_url, key, services, sims, workers)
        finally:
            for worker in workers.values():
                worker.stop()


@pytest.fixture
def stack(distributed: Distributed) -> Distributed:
    """Each test starts with no scripted faults, empty call logs and every circuit closed."""
    reset_simulators(distributed.sims, distributed.services.database_url)
    return distributed


EDITS: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "remove_background": ({}, {"image": product_png()}),
    "inpaint": ({"prompt": "a vase of tulips"}, {"image": png(), "mask": mask_png()}),
    "outpaint": ({"left": 64, "down": 32}, {"image": png()}),
    "search_replace": ({"prompt": "a golden retriever", "search_prompt": "the cat"}, {"image": png()}),
    "search_recolor": (
        {"prompt": "navy", "select_prompt": "the jacket"},
        {"image": png(), "mask": mask_png()},
    ),
    "erase": ({}, {"image": png(), "mask": mask_png()}),
    "replace_background_relight": ({"prompt": "a sunny beach"}, {"image": product_png()}),
    "general_edit": ({"prompt": "make it night time"}, {"image": png()}),
}
LOCAL_EDITS = ("remove_background", "inpaint", "outpaint", "search_recolor", "erase")


@pytest.mark.parametrize("operation", sorted(EDITS))
def test_every_edit_operation_runs_on_the_provider_through_rabbitmq(
    stack: Distributed, operation: str
) -> None:
    data, files = EDITS[operation]
    job = stack.run("edit", {"operation": operation, "path": "provider", **data}, files)
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    provider = "wavespeed" if operation == "general_edit" else "stability"
    meta = output["metadata"]
    assert (meta["path"], meta["provider"], meta["simulated"]) == ("provider", provider, True)
    assert output["url"].startswith("http://127.0.0.1:") and "X-Amz-Signature=" in output["url"]
    assert download(output).size == (output["width"], output["height"])
    if operation in ("replace_background_relight", "general_edit"):
        assert job["params"]["provider_work"]["polls"] == 2 and job["attempts"] == 1


@pytest.mark.parametrize("operation", LOCAL_EDITS)
def test_local_edit_operations_run_in_the_worker_process(stack: Distributed, operation: str) -> None:
    data, files = EDITS[operation]
    if operation == "search_recolor":
        data = {"prompt": "#1e90ff", "select_prompt": "the ball"}
    job = stack.run("edit", {"operation": operation, "path": "local", **data}, files)
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert (output["metadata"]["path"], output["metadata"]["credits"]) == ("local", 0)
    assert download(output).size == (output["width"], output["height"])
    assert sum(sim.calls.count("/") for sim in stack.sims.values()) == 0


@pytest.mark.parametrize(
    ("mode", "path"), [("fast", "provider"), ("conservative", "provider"), ("conservative", "local")]
)
def test_upscale_modes_run_through_rabbitmq(stack: Distributed, mode: str, path: str) -> None:
    job = stack.run("upscale", {"mode": mode, "path": path}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert output["metadata"]["provider"] == ("stability" if path == "provider" else "local")
    assert output["width"] >= 4 * 256 * (0.99 if mode == "fast" else 0.9)
    assert download(output).size == (output["width"], output["height"])


def test_local_fast_upscale_is_exactly_4x_and_decodes(stack: Distributed) -> None:
    job = stack.run(
        "upscale", {"mode": "fast", "path": "local", "output_format": "webp"}, {"image": png(203, 157)}
    )
    assert job["status"] == "succeeded", job
    image = download(job["outputs"][0])
    assert image.size == (812, 628) and image.format == "WEBP"


def test_creative_upscale_is_polled_by_new_messages(stack: Distributed) -> None:
    stability = stack.sims["stability"]
    stability.faults.push({"stay_in_progress": 3, "path": "/upscale/creative"})
    stability.faults.push({"status": 503, "path": "/v2beta/results/"})  # a failed poll is just polled again
    job = stack.run("upscale", {"mode": "creative", "prompt": "a crisp photo"}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1 and stability.calls.count("/upscale/creative", method="POST") == 1
    assert stability.calls.count("/v2beta/results/", method="GET") == 5
    assert job["params"]["provider_work"]["polls"] == 5
    output = job["outputs"][0]
    assert output["metadata"]["credits"] == 60 and download(output).size == (
        output["width"],
        output["height"],
    )


def test_a_waiting_creative_upscale_leaves_the_one_worker_thread_free(stack: Distributed) -> None:
    stack.sims["stability"].faults.push({"stay_in_progress": 10_000, "path": "/upscale/creative"})
    creative = stack.submit("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    wait_for(
        lambda: (stack.get(f"/jobs/{creative['id']}")["params"].get("pending") or {}).get("polls", 0) >= 2,
        timeout=60,
        what="the creative upscale to be polled twice",
    )
    fast = stack.run("upscale", {"mode": "fast", "path": "local"}, {"image": png(64, 48)})
    assert fast["status"] == "succeeded"
    assert stack.get(f"/jobs/{creative['id']}")["status"] == "running"
    canceled = httpx.post(
        f"{stack.base_url}{API}/jobs/{creative['id']}/cancel", headers=stack.headers(), timeout=30
    )
    assert canceled.status_code == 200


def test_rate_limit_is_retried_and_a_down_provider_falls_back_to_local(stack: Distributed) -> None:
    stability = stack.sims["stability"]
    stability.faults.push({"status": 429, "retry_after": 0.2, "path": "/edit/erase"})
    job = stack.run("edit", {"operation": "erase", "path": "provider"}, {"image": png(), "mask": mask_png()})
    assert job["status"] == "succeeded", job
    assert job["outputs"][0]["metadata"]["attempts"] == 2

    stability.faults.push(*[{"status": 500, "path": "/edit/inpaint"}] * 2)
    job = stack.run(
        "edit", {"operation": "inpaint", "prompt": "tulips"}, {"image": png(), "mask": mask_png()}
    )
    assert job["status"] == "succeeded", job
    meta = job["outputs"][0]["metadata"]
    assert meta["provider"] == "local" and meta["fallback_from"][0]["provider"] == "stability"
    assert "unavailable (500)" in meta["fallback_from"][0]["reason"]


def test_bad_inputs_are_refused_before_anything_is_enqueued(stack: Distributed) -> None:
    before = stack.counts()
    for route, data, files, status, field in (
        (
            "edit",
            {"operation": "inpaint", "prompt": "x"},
            {"image": png(), "mask": mask_png(300, 256)},
            422,
            "mask",
        ),
        (
            "edit",
            {"operation": "outpaint", "left": 64, "path": "provider"},
            {"image": png(900, 300)},
            422,
            "image",
        ),
        ("edit", {"operation": "outpaint", "left": 2500}, {"image": png()}, 422, "left"),
        ("upscale", {"mode": "creative"}, {"image": png(1100, 1000)}, 413, "image"),
        ("upscale", {"mode": "fast", "prompt": "x"}, {"image": png()}, 422, "prompt"),
    ):
        response = stack.post(route, data, files)
        assert response.status_code == status, response.text
        assert response.json()["field"] == field
    assert stack.counts() == before


def test_a_truncated_upload_is_accepted_then_fails_invalid_image_releasing_its_credits(
    stack: Distributed,
) -> None:
    jpeg = make_image(256, 192, "JPEG")
    before = stack.get("/credits")
    response = stack.post(
        "upscale", {"mode": "conservative", "path": "provider"}, {"image": jpeg[: len(jpeg) // 2]}
    )
    assert response.status_code == 202, response.text  # the header is sound: only the worker can tell
    accepted = response.json()
    assert accepted["params"]["estimated_credits"] == 40

    job = stack.finished(accepted["id"])

    assert job["status"] == "failed", job
    error = job["error"]
    assert error["type"].endswith("/invalid-image") and error["field"] == "image"
    assert "JPEG file is truncated or corrupt" in error["detail"] and error["attempts"] == 1
    assert stack.sims["stability"].calls.count("/upscale/") == 0
    after = stack.get("/credits")
    assert (after["balance"], after["reserved"]) == (before["balance"], before["reserved"])
    kinds = {e["kind"] for e in after["entries"] if e["job_id"] == job["id"]}
    assert kinds == {"reserve", "release"}


CONTROLS: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "sketch": ({"prompt": "a lighthouse", "control_strength": 0.0}, {"image": product_png()}),
    "structure": ({"prompt": "a glass house"}, {"image": png()}),
    "style": ({"prompt": "a fox", "fidelity": 0.3}, {"image": png()}),
    "style_transfer": ({"composition_fidelity": 0.0}, {"image": png(), "style_image": product_png()}),
}


@pytest.mark.parametrize("operation", sorted(CONTROLS))
def test_every_control_operation_runs_through_rabbitmq(stack: Distributed, operation: str) -> None:
    data, files = CONTROLS[operation]
    job = stack.run("control", {"operation": operation, **data}, files)
    assert job["status"] == "succeeded", job
    outputs = {o["name"]: o for o in job["outputs"]}
    meta = outputs["controlled"]["metadata"]
    assert (meta["served_by"], meta["simulated"]) == ("stability", True)
    for name, given in data.items():
        if name in meta["strengths"]:
            assert meta["strengths"][name] == given  # 0.0 included
    assert set(outputs) == (
        {"controlled", "control_map"} if operation in ("sketch", "structure") else {"controlled"}
    )
    for output in outputs.values():
        assert download(output).size == (output["width"], output["height"])


def test_a_control_job_falls_back_to_wavespeed_and_is_polled_by_new_messages(stack: Distributed) -> None:
    stack.sims["stability"].faults.push(*[{"status": 503, "path": "/control/sketch"}] * 2)
    job = stack.run("control", {"operation": "sketch", "prompt": "a barn"}, {"image": product_png()})
    assert job["status"] == "succeeded", job
    meta = {o["name"]: o for o in job["outputs"]}["controlled"]["metadata"]
    assert (meta["served_by"], meta["fallback_from"][0]["provider"]) == ("wavespeed", "stability")
    assert job["params"]["provider_work"]["polls"] == 2 and job["attempts"] == 1
