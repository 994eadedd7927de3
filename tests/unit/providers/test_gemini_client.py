"""GeminiClient against the Gemini simulator: base64 predictions, sampleCount, Google's errors."""

from __future__ import annotations

import json

import httpx
import pytest
from provider_support import CASES, in_process, open_image

from imagestudio.errors import ProviderBadRequest, ProviderRateLimited
from imagestudio.providers import GeminiClient, GenerationRequest
from simulators import GeminiSimulator, InProcessTransport


def test_sample_count_four_returns_four_distinct_images() -> None:
    environment = in_process(CASES["gemini"])
    try:
        images = environment.client.generate(
            GenerationRequest(prompt="a teapot", model="imagen-4.0-generate-001", count=4, aspect_ratio="1:1")
        )
    finally:
        environment.client.close()

    assert len(images) == 4
    assert len({image.data for image in images}) == 4
    assert all(open_image(image.data).size == (1024, 1024) for image in images)
    assert environment.sim.calls.count(":predict") == 1


def test_more_than_four_images_take_several_calls() -> None:
    environment = in_process(CASES["gemini"])
    try:
        images = environment.client.generate(
            GenerationRequest(prompt="a teapot", count=6, width=900, height=1600)
        )
    finally:
        environment.client.close()

    assert environment.transport is not None
    bodies = [json.loads(request.content) for request in environment.transport.requests]
    assert [body["parameters"]["sampleCount"] for body in bodies] == [4, 2]
    assert {body["parameters"]["aspectRatio"] for body in bodies} == {"9:16"}  # nearest Imagen ratio
    assert len(images) == 6
    assert (images[0].width, images[0].height) == (768, 1408)
    request = environment.transport.requests[0]
    assert request.headers["x-goog-api-key"] == environment.sim.api_key
    assert "authorization" not in request.headers


def test_rate_limit_without_header_uses_google_retry_info() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    client = GeminiClient(
        api_key="k", transport=httpx.MockTransport(lambda _: httpx.Response(429, json=body))
    )

    with pytest.raises(ProviderRateLimited) as caught:
        client.generate(GenerationRequest(prompt="x"))

    assert caught.value.retry_after == 12.0


def test_missing_key_permission_denied_is_a_credentials_error() -> None:
    sim = GeminiSimulator()
    inner = InProcessTransport(sim.app)

    def without_key(request: httpx.Request) -> httpx.Response:
        del request.headers["x-goog-api-key"]
        return inner.handle_request(request)

    client = GeminiClient(api_key="AIza-any", transport=httpx.MockTransport(without_key))
    try:
        with pytest.raises(ProviderBadRequest, match=r"rejected the credentials/billing \(403\)"):
            client.generate(GenerationRequest(prompt="x"))
    finally:
        client.close()
        inner.close()

    assert sim.calls.entries()[-1].status == 403
