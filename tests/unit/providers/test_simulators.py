"""The simulators themselves: labelling, control API, faults, loopback-only serving, determinism."""

from __future__ import annotations

import httpx
import pytest

from simulators import (
    GeminiSimulator,
    HuggingFaceSimulator,
    InProcessTransport,
    StabilitySimulator,
    WaveSpeedSimulator,
    run_in_thread,
)
from simulators.render import render_image

SIMULATORS = {
    "stability": StabilitySimulator,
    "wavespeed": WaveSpeedSimulator,
    "huggingface": HuggingFaceSimulator,
    "gemini": GeminiSimulator,
}


@pytest.fixture(params=list(SIMULATORS))
def http(request: pytest.FixtureRequest) -> tuple[str, httpx.Client]:
    sim = SIMULATORS[request.param]()
    client = httpx.Client(base_url="http://sim.local", transport=InProcessTransport(sim.app))
    request.addfinalizer(client.close)
    return request.param, client


def test_root_says_it_is_a_local_simulator(http: tuple[str, httpx.Client]) -> None:
    name, client = http

    answer = client.get("/")

    assert answer.headers["x-simulator"] == f"{name}-simulator"
    assert "local SIMULATOR" in answer.json()["notice"]
    assert "not " in answer.json()["notice"]


def test_every_answer_is_labelled_even_errors(http: tuple[str, httpx.Client]) -> None:
    name, client = http

    for answer in (
        client.get("/no/such/path"),
        client.post("/v1beta/models/x:predict"),
        client.post("/models/x"),
    ):
        assert answer.headers["x-simulator"] == f"{name}-simulator"


def test_faults_are_scripted_and_cleared_over_http(http: tuple[str, httpx.Client]) -> None:
    _, client = http

    pushed = client.post("/_simulator/faults", json=[{"status": 429, "retry_after": 1}, {"status": 503}])
    listed = client.get("/_simulator/faults").json()
    cleared = client.delete("/_simulator/faults")

    assert pushed.json() == {"pending": 2}
    assert [fault["status"] for fault in listed] == [429, 503]
    assert cleared.status_code == 204
    assert client.get("/_simulator/faults").json() == []


def test_unknown_fault_fields_are_refused(http: tuple[str, httpx.Client]) -> None:
    _, client = http

    assert client.post("/_simulator/faults", json=[{"stauts": 500}]).status_code == 422


def test_calls_are_logged_without_the_control_routes() -> None:
    sim = HuggingFaceSimulator()
    client = httpx.Client(base_url="http://sim.local", transport=InProcessTransport(sim.app))
    sim.faults.push({"status": 500})
    client.post(
        "/fal-ai/fal-ai/flux/schnell",
        json={"prompt": "x"},
        headers={"authorization": "Bearer no"},
    )
    client.post(
        "/fal-ai/fal-ai/flux/schnell",
        json={"prompt": "x", "image_size": {"width": 256, "height": 256}},
        headers={"authorization": f"Bearer {sim.api_key}"},
    )
    client.get("/_simulator/faults")

    calls = client.get("/_simulator/calls").json()
    client.close()

    assert calls["count"] == 2
    assert [call["status"] for call in calls["calls"]] == [401, 500]
    assert calls["calls"][1]["fault"] == {"status": 500}
    assert sim.faults.pending() == []  # the unauthorised call did not consume the fault


def test_a_fault_with_a_path_waits_for_a_matching_call() -> None:
    sim = WaveSpeedSimulator(in_progress_polls=0)
    sim.faults.push({"status": 503, "path": "/predictions/"})
    client = httpx.Client(
        base_url="http://sim.local",
        transport=InProcessTransport(sim.app),
        headers={"authorization": f"Bearer {sim.api_key}"},
    )

    submitted = client.post(
        "/api/v3/wavespeed-ai/qwen-image/text-to-image", json={"prompt": "x", "size": "256*256"}
    )
    prediction_id = submitted.json()["data"]["id"]
    first_poll = client.get(f"/api/v3/predictions/{prediction_id}/result")
    second_poll = client.get(f"/api/v3/predictions/{prediction_id}/result")
    client.close()

    assert submitted.status_code == 200
    assert first_poll.status_code == 503
    assert second_poll.json()["data"]["status"] == "completed"


def test_outputs_are_served_by_the_simulator_itself() -> None:
    sim = WaveSpeedSimulator(in_progress_polls=0)
    with run_in_thread(sim.app) as running:
        headers = {"authorization": f"Bearer {sim.api_key}"}
        submitted = httpx.post(
            f"{running.base_url}/api/v3/wavespeed-ai/qwen-image/text-to-image",
            json={"prompt": "x", "size": "256*256", "output_format": "png"},
            headers=headers,
        )
        result = httpx.get(submitted.json()["data"]["urls"]["get"], headers=headers).json()["data"]
        [output] = result["outputs"]
        image = httpx.get(output)

    assert output.startswith(running.base_url + "/outputs/")
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert not running.running


def test_simulators_refuse_to_bind_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_in_thread(GeminiSimulator().app, host="0.0.0.0")


def test_renders_are_deterministic_per_seed_and_prompt() -> None:
    first = render_image("a boat", seed=5, width=64, height=64)

    assert render_image("a boat", seed=5, width=64, height=64) == first
    assert render_image("a boat", seed=6, width=64, height=64) != first
    assert render_image("a ship", seed=5, width=64, height=64) != first


def _stability_upscale(image: bytes) -> httpx.Response:
    sim = StabilitySimulator()
    with httpx.Client(base_url="http://sim.local", transport=InProcessTransport(sim.app)) as client:
        return client.post(
            "/v2beta/stable-image/upscale/fast",
            headers={"authorization": f"Bearer {sim.api_key}", "accept": "image/*"},
            files={"image": ("image", image)},
            data={"output_format": "png"},
        )


@pytest.mark.parametrize(("fmt", "mode"), [("BMP", "RGB"), ("GIF", "P"), ("TIFF", "RGB")])
def test_the_stability_simulator_reads_only_the_formats_the_api_reads(fmt: str, mode: str) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (96, 64)).save(buffer, fmt)

    response = _stability_upscale(buffer.getvalue())

    assert response.status_code == 400
    assert "expected jpeg, png or webp" in response.json()["errors"][0]


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "LA", "P"])
def test_the_stability_simulator_upscales_any_mode_of_a_readable_format(mode: str) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (96, 64)).save(buffer, "JPEG" if mode == "CMYK" else "PNG")

    response = _stability_upscale(buffer.getvalue())

    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\x89PNG")
