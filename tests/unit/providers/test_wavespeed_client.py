"""WaveSpeedClient against the WaveSpeed simulator: submit, poll through progress, download outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from provider_support import CASES, Env, in_process, open_image, png

from imagestudio.errors import ProviderContentFiltered, ProviderUnavailable
from imagestudio.providers import GeneralEditRequest, GenerationRequest, WaveSpeedClient
from simulators import WaveSpeedSimulator


@pytest.fixture
def wavespeed() -> Iterator[Env]:
    environment = in_process(CASES["wavespeed"], sim=WaveSpeedSimulator(in_progress_polls=0))
    yield environment
    environment.client.close()


def test_prediction_is_polled_through_created_and_processing_to_completed(wavespeed: Env) -> None:
    wavespeed.sim.faults.push({"stay_in_progress": 3})

    [pending] = wavespeed.client.submit_generate(
        GenerationRequest(prompt="harbour", model="qwen-image", seed=11)
    )
    polls = [wavespeed.client.poll(pending) for _ in range(4)]

    assert polls[:3] == [None, None, None]
    assert polls[3] is not None
    [image] = polls[3]
    assert image.seed == 11
    assert open_image(image.data).size == (1024, 1024)
    statuses = [record.path for record in wavespeed.sim.calls.entries()]
    assert statuses.count(f"/api/v3/predictions/{pending.remote_id}/result") == 4
    assert any(path.startswith(f"/outputs/{pending.remote_id}/") for path in statuses)


def test_generate_waits_for_every_image_of_a_batch() -> None:
    environment = in_process(CASES["wavespeed"], sim=WaveSpeedSimulator(in_progress_polls=0))
    try:
        images = environment.client.generate(
            GenerationRequest(prompt="harbour", model="qwen-image", count=3, seed=1)
        )
    finally:
        environment.client.close()

    assert [image.seed for image in images] == [1, 2, 3]
    assert environment.sim.calls.count("/api/v3/wavespeed-ai/qwen-image/text-to-image", method="POST") == 3


def test_ideogram_gets_an_aspect_ratio_and_qwen_a_size() -> None:
    bodies: dict[str, dict[str, object]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        bodies[request.url.path] = json.loads(request.content)
        return httpx.Response(200, json={"code": 200, "data": {"id": "p1", "status": "created"}})

    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler))
    client.submit_generate(GenerationRequest(prompt="poster", model="ideogram-v3-turbo", aspect_ratio="16:9"))
    client.submit_generate(GenerationRequest(prompt="poster", model="qwen-image", width=1920, height=1080))

    ideogram = bodies["/api/v3/ideogram-ai/ideogram-v3-turbo"]
    qwen = bodies["/api/v3/wavespeed-ai/qwen-image/text-to-image"]
    assert ideogram["aspect_ratio"] == "16:9" and "size" not in ideogram
    assert qwen["size"] == "1536*864"  # scaled into qwen's 1536 px limit, ratio kept
    assert qwen["seed"] == -1  # no seed asked: WaveSpeed picks one


def test_failed_prediction_is_unavailable_with_the_reason(wavespeed: Env) -> None:
    wavespeed.sim.faults.push({"fail": "worker crashed"})

    with pytest.raises(ProviderUnavailable, match="worker crashed"):
        wavespeed.client.generate(GenerationRequest(prompt="harbour"))


def test_nsfw_failure_is_content_filtered(wavespeed: Env) -> None:
    wavespeed.sim.faults.push({"fail": "NSFW content detected in the output"})

    with pytest.raises(ProviderContentFiltered):
        wavespeed.client.generate(GenerationRequest(prompt="harbour"))


def test_outputs_are_downloaded_without_our_api_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "cdn.example":
            return httpx.Response(200, content=png(), headers={"content-type": "image/png"})
        data = {"id": "p1", "status": "completed", "outputs": ["https://cdn.example/p1/0.png"]}
        return httpx.Response(200, json={"code": 200, "data": data})

    from imagestudio.providers import PendingResult

    client = WaveSpeedClient(api_key="secret-key", transport=httpx.MockTransport(handler))
    [image] = client.poll(PendingResult(provider="wavespeed", model="qwen-image", remote_id="p1")) or []

    assert image.width == 128
    assert seen[0].headers["authorization"] == "Bearer secret-key"
    assert "authorization" not in seen[1].headers


def test_general_edit_sends_the_images_inline(wavespeed: Env) -> None:
    [image] = wavespeed.client.edit(
        GeneralEditRequest(prompt="make it blue", images=[png(200, 100), png(50, 50)], model="qwen-edit-plus")
    )

    assert (image.width, image.height) == (200, 100)
    assert image.model == "qwen-edit-plus"
    assert wavespeed.sim.calls.count("/api/v3/wavespeed-ai/qwen-image/edit-plus", method="POST") == 1
