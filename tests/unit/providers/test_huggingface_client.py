"""HuggingFaceClient through the router: a provider per model (fal-ai, hf-inference), 410 gone, no cold start."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from provider_support import CASES, in_process, png

from imagestudio.errors import ProviderModelGone, ProviderUnavailable
from imagestudio.providers import GenerationRequest, HuggingFaceClient
from imagestudio.providers import huggingface as hf
from simulators import HuggingFaceSimulator

FLUX_DEV = "black-forest-labs/FLUX.1-dev"


def _fal_answer(request: httpx.Request) -> httpx.Response:
    data = base64.b64encode(png()).decode()
    return httpx.Response(200, json={"images": [{"url": f"data:image/png;base64,{data}"}], "seed": 1})


def test_flux_goes_to_fal_through_the_router_in_fals_field_names() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return _fal_answer(request)

    client = HuggingFaceClient(api_key="hf_x", transport=httpx.MockTransport(handler))
    client.generate(
        GenerationRequest(
            prompt="forest",
            model=FLUX_DEV,
            negative_prompt="fog",
            aspect_ratio="3:2",
            guidance_scale=3.5,
            steps=20,
        )
    )

    [request] = requests
    assert str(request.url) == "https://router.huggingface.co/fal-ai/fal-ai/flux/dev"
    assert request.headers["authorization"] == "Bearer hf_x"
    assert "x-wait-for-model" not in request.headers  # the legacy cold-start header is gone
    assert json.loads(request.content) == {
        "prompt": "forest",
        "image_size": {"width": 1248, "height": 832},
        "negative_prompt": "fog",
        "num_inference_steps": 20,
        "guidance_scale": 3.5,
    }


def test_schnell_defaults_to_its_few_steps() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _fal_answer(request)

    HuggingFaceClient(api_key="hf_x", transport=httpx.MockTransport(handler)).generate(
        GenerationRequest(prompt="forest", seed=5)
    )

    assert bodies[0]["num_inference_steps"] == 4
    assert bodies[0]["seed"] == 5


def test_simulated_router_serves_flux_and_the_image_is_fetched_from_its_url() -> None:
    environment = in_process(CASES["huggingface"])
    try:
        images = environment.client.generate(CASES["huggingface"].request.model_copy(update={"count": 2}))
    finally:
        environment.client.close()

    assert [image.seed for image in images] == [7, 8]
    assert (images[0].width, images[0].height) == (512, 288)
    assert environment.sim.calls.count("/fal-ai/fal-ai/flux/schnell", method="POST") == 2
    assert environment.sim.calls.count("/outputs/", method="GET") == 2


def test_a_withdrawn_model_answers_410_and_is_model_gone() -> None:
    environment = in_process(CASES["huggingface"])
    environment.sim.harness.retire("fal-ai/flux/schnell", status=410)
    try:
        with pytest.raises(ProviderModelGone):
            environment.client.generate(CASES["huggingface"].request)
    finally:
        environment.client.close()


def test_a_503_is_unavailable_without_a_loading_estimate() -> None:
    environment = in_process(CASES["huggingface"])
    environment.sim.faults.push({"status": 503})
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            environment.client.generate(CASES["huggingface"].request)
    finally:
        environment.client.close()
    assert caught.value.retry_after is None


def test_a_model_routed_to_hf_inference_answers_raw_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    sdxl = "stabilityai/stable-diffusion-xl-base-1.0"
    monkeypatch.setitem(hf.HF_MODELS, sdxl, hf.HuggingFaceRoute("hf-inference", sdxl, 30, 1024))
    environment = in_process(CASES["huggingface"], sim=HuggingFaceSimulator())
    try:
        [image] = environment.client.generate(
            GenerationRequest(prompt="forest", model=sdxl, width=512, height=512)
        )
    finally:
        environment.client.close()

    assert (image.width, image.height, image.model) == (512, 512, sdxl)
    assert environment.sim.calls.count(f"/hf-inference/models/{sdxl}", method="POST") == 1
    assert environment.transport is not None
    assert environment.transport.requests[0].headers["x-use-cache"] == "false"
