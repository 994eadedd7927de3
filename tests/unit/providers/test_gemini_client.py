"""GeminiClient against the Gemini simulator: generateContent image models, shut-down ids, Google's errors."""

from __future__ import annotations

import json

import httpx
import pytest
from provider_support import CASES, google_error, in_process

from imagestudio.errors import ProviderBadRequest, ProviderModelGone, ProviderRateLimited
from imagestudio.providers import GeminiClient, GenerationRequest
from simulators import GeminiSimulator, InProcessTransport


def test_text_to_image_goes_through_generate_content_one_image_per_call() -> None:
    environment = in_process(CASES["gemini"])
    try:
        images = environment.client.generate(
            GenerationRequest(prompt="a teapot", count=2, width=900, height=1600)
        )
    finally:
        environment.client.close()

    assert environment.transport is not None
    requests = environment.transport.requests
    assert [request.url.path for request in requests] == [
        "/v1beta/models/gemini-3.1-flash-image:generateContent"
    ] * 2
    body = json.loads(requests[0].content)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a teapot"}]}]
    assert body["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "9:16"},
    }
    assert len({image.data for image in images}) == 2
    assert (images[0].width, images[0].height) == (768, 1344)
    assert requests[0].headers["x-goog-api-key"] == environment.sim.api_key
    assert "authorization" not in requests[0].headers


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/imagen-4.0-generate-001:predict",
        "/v1beta/models/imagen-4.0-generate-001:generateContent",
        "/v1beta/models/gemini-2.5-flash-image:generateContent",
        "/v1beta/models/gemini-3-pro-image-preview:generateContent",
    ],
)
def test_simulator_answers_shut_down_models_404_as_google_does(path: str) -> None:
    sim = GeminiSimulator()
    with httpx.Client(transport=InProcessTransport(sim.app), base_url="http://gemini.sim") as http:
        response = http.post(path, headers={"x-goog-api-key": sim.api_key}, json={})
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_a_404_on_a_model_call_is_the_model_gone() -> None:
    sim = GeminiSimulator()
    sim.harness.retire("gemini-3-pro-image", status=404)
    client = GeminiClient(
        api_key=sim.api_key, base_url="http://gemini.sim", transport=InProcessTransport(sim.app)
    )
    try:
        with pytest.raises(ProviderModelGone):
            client.generate(GenerationRequest(prompt="x", model="gemini-3-pro-image"))
    finally:
        client.close()


def test_imagen_is_no_model_of_the_client_any_more() -> None:
    client = GeminiClient(api_key="k", transport=httpx.MockTransport(lambda _: httpx.Response(500)))
    with pytest.raises(ProviderBadRequest, match="no model 'imagen-4.0-generate-001'"):
        client.generate(GenerationRequest(prompt="x", model="imagen-4.0-generate-001"))


def test_rate_limit_without_header_uses_google_retry_info() -> None:
    retry = {"@type": "RetryInfo", "retryDelay": "12s"}
    body = google_error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", retry)
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
