"""HuggingFaceClient against the Hugging Face simulator: raw bytes, parameters, cold models."""

from __future__ import annotations

import json

import httpx
import pytest
from provider_support import CASES, in_process, png

from imagestudio.errors import ProviderUnavailable
from imagestudio.providers import GenerationRequest, HuggingFaceClient, RetryPolicy, call_with_retries
from simulators import HuggingFaceSimulator

FLUX_DEV = "black-forest-labs/FLUX.1-dev"


def test_loading_model_is_unavailable_with_the_estimated_time() -> None:
    environment = in_process(CASES["huggingface"])
    environment.sim.faults.push({"status": 503, "estimated_time": 20.0})
    try:
        with pytest.raises(ProviderUnavailable, match="loading") as caught:
            environment.client.generate(CASES["huggingface"].request)
    finally:
        environment.client.close()

    assert caught.value.retry_after == 20.0


def test_cold_model_answers_loading_once_then_serves() -> None:
    sim = HuggingFaceSimulator(cold_models={FLUX_DEV: 8.5})
    environment = in_process(CASES["huggingface"], sim=sim)
    slept: list[float] = []
    request = GenerationRequest(prompt="forest", model=FLUX_DEV, width=256, height=256, seed=3)
    try:
        [image] = call_with_retries(
            lambda: environment.client.generate(request), RetryPolicy(max_attempts=2), sleep=slept.append
        )
    finally:
        environment.client.close()

    assert slept == [8.5]
    assert (image.width, image.height, image.seed, image.model) == (256, 256, 3, FLUX_DEV)


def test_parameters_reach_the_provider_in_its_field_names() -> None:
    bodies: list[dict[str, object]] = []
    headers: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        headers.append(request.headers)
        return httpx.Response(200, content=png(), headers={"content-type": "image/png"})

    client = HuggingFaceClient(api_key="hf_x", transport=httpx.MockTransport(handler), wait_for_model=True)
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

    assert bodies[0]["inputs"] == "forest"
    assert bodies[0]["parameters"] == {
        "negative_prompt": "fog",
        "width": 1248,
        "height": 832,
        "num_inference_steps": 20,
        "guidance_scale": 3.5,
    }
    assert headers[0]["x-wait-for-model"] == "true"
    assert headers[0]["x-use-cache"] == "false"  # unseeded: do not let the cache answer twice


def test_schnell_defaults_to_its_few_steps() -> None:
    bodies: list[dict[str, dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=png(), headers={"content-type": "image/png"})

    HuggingFaceClient(api_key="hf_x", transport=httpx.MockTransport(handler)).generate(
        GenerationRequest(prompt="forest", seed=5)
    )

    assert bodies[0]["parameters"]["num_inference_steps"] == 4
    assert bodies[0]["parameters"]["seed"] == 5
