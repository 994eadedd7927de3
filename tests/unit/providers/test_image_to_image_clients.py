"""Image-to-image beyond Stability: Gemini 2.5 Flash Image and WaveSpeed FLUX.1 dev, clients and simulators."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from provider_support import CASES, in_process, open_image, png

from imagestudio.errors import ProviderContentFiltered
from imagestudio.providers import GeminiClient, GenerationRequest, WaveSpeedClient
from simulators import GeminiSimulator, InProcessTransport, WaveSpeedSimulator


def _distance(data: bytes, source: bytes) -> float:
    """Mean absolute difference per channel between ``data`` and ``source`` resized to it."""
    got = open_image(data).convert("RGB")
    want = open_image(source).convert("RGB").resize(got.size)
    pairs = zip(got.tobytes(), want.tobytes(), strict=True)
    return sum(abs(a - b) for a, b in pairs) / (3 * got.width * got.height)


# --- Gemini 3.1 Flash Image --------------------------------------------------------------------


def _gemini_body(**fields: Any) -> tuple[str, dict[str, Any]]:
    seen: list[httpx.Request] = []
    answer = {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png",
              "data": base64.b64encode(png(96, 64)).decode()}}]}, "finishReason": "STOP"}]}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    client = GeminiClient(api_key="k", transport=httpx.MockTransport(handler))
    [image] = client.generate(GenerationRequest(prompt="a fox", model="gemini-3.1-flash-image", **fields))
    assert image.model == "gemini-3.1-flash-image" and (image.width, image.height) == (96, 64)
    return seen[0].url.path, json.loads(seen[0].read())


def test_gemini_image_model_sends_the_prompt_then_the_init_image_inline_and_no_strength() -> None:
    init = png(300, 100)
    path, body = _gemini_body(init_image=init, strength=0.0, negative_prompt="snow")

    assert path == "/v1beta/models/gemini-3.1-flash-image:generateContent"
    [content] = body["contents"]
    text, image = content["parts"]
    assert text == {"text": "a fox\nAvoid: snow"}
    assert image["inline_data"]["mime_type"] == "image/png"
    assert base64.b64decode(image["inline_data"]["data"]) == init
    assert body["generationConfig"] == {"responseModalities": ["IMAGE"]}  # no aspect: the input's shape
    assert "strength" not in json.dumps(body)  # the API has none


def test_gemini_image_model_asks_for_the_nearest_aspect_when_one_is_given() -> None:
    _, body = _gemini_body(init_image=png(), strength=0.5, aspect_ratio="2.35:1")
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "21:9"}


def test_gemini_simulator_answers_in_the_init_images_shape_and_says_it_is_simulated() -> None:
    environment = in_process(CASES["gemini"])
    try:
        [image] = environment.client.generate(
            GenerationRequest(
                prompt="a fox", model="gemini-3.1-flash-image", init_image=png(400, 100), strength=0.3
            )
        )
    finally:
        environment.client.close()
    assert abs(image.width / image.height - 4.0) < 0.02  # 4:1 kept: not squeezed into an aspect
    assert environment.sim.calls.count(":generateContent") == 1


def test_gemini_simulator_filtered_image_is_a_content_filter_refusal() -> None:
    environment = in_process(CASES["gemini"])
    environment.sim.faults.push({"content_filter": True})
    try:
        with pytest.raises(ProviderContentFiltered, match="IMAGE_SAFETY"):
            environment.client.generate(
                GenerationRequest(
                    prompt="a fox", model="gemini-3.1-flash-image", init_image=png(), strength=0.3
                )
            )
    finally:
        environment.client.close()


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"contents": [{"parts": [{"text": "a fox"}]}]}, "response modalities"),  # TEXT only by default
        ({"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "!!"}}]}],
          "generationConfig": {"responseModalities": ["IMAGE"]}}, "input image"),
        ({"contents": [{"parts": [{"text": "a fox"}]}],
          "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "7:1"}}},
         "aspectRatio"),
    ],
)  # fmt: skip
def test_gemini_simulator_refuses_what_the_real_api_refuses(body: dict[str, Any], wanted: str) -> None:
    sim = GeminiSimulator()
    with httpx.Client(transport=InProcessTransport(sim.app), base_url="http://sim") as raw:
        response = raw.post(
            "/v1beta/models/gemini-3.1-flash-image:generateContent",
            headers={"x-goog-api-key": sim.api_key},
            json=body,
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert wanted in response.json()["error"]["message"]


# --- WaveSpeed FLUX.1 dev ------------------------------------------------------------------------


def test_wavespeed_flux_dev_sends_the_image_as_a_data_uri_and_a_zero_strength() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.read()))
        return httpx.Response(
            200, json={"code": 200, "message": "ok", "data": {"id": "p1", "status": "created"}}
        )

    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler))
    [pending] = client.submit_generate(
        GenerationRequest(
            prompt="a fox", model="flux-dev", init_image=png(), strength=0.0, width=1200, height=800
        )
    )
    [body] = seen
    assert body["image"].startswith("data:image/png;base64,")
    assert body["strength"] == 0.0  # a value, not WaveSpeed's default 0.8
    assert body["size"] == "1200*800" and pending.model == "flux-dev"


def test_wavespeed_text_to_image_models_refuse_an_init_image() -> None:
    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(ValueError, match="takes no init image"):
        client.submit_generate(
            GenerationRequest(prompt="p", model="qwen-image", init_image=png(), strength=0.5)
        )


def test_wavespeed_simulator_honours_strength_zero_and_one() -> None:
    environment = in_process(CASES["wavespeed"])
    source = png(192, 128)

    def made(strength: float) -> bytes:
        [image] = environment.client.generate(
            GenerationRequest(
                prompt="a fox", model="flux-dev", init_image=source, strength=strength, width=768, height=512
            )
        )
        assert (image.width, image.height) == (768, 512)
        return image.data

    try:
        assert _distance(made(0.0), source) < 4 < _distance(made(1.0), source)
    finally:
        environment.client.close()
    assert environment.sim.calls.count("/api/v3/wavespeed-ai/flux-dev") == 2


@pytest.mark.parametrize("strength", [1.5, -0.1, "high"])
def test_wavespeed_simulator_refuses_a_strength_out_of_range(strength: Any) -> None:
    sim = WaveSpeedSimulator()
    with httpx.Client(transport=InProcessTransport(sim.app), base_url="http://sim") as raw:
        response = raw.post(
            "/api/v3/wavespeed-ai/flux-dev",
            headers={"authorization": f"Bearer {sim.api_key}"},
            json={"prompt": "a fox", "image": f"data:image/png;base64,{base64.b64encode(png()).decode()}",
                  "strength": strength},
        )  # fmt: skip
    assert response.status_code == 400
    assert "strength" in response.json()["message"]
    assert not sim.jobs._jobs  # refused before a prediction was started
