"""WaveSpeedClient against the WaveSpeed simulator: submit, poll through progress, download outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from provider_support import CASES, Env, in_process, open_image, png, serving

from imagestudio.egress import EgressGuard
from imagestudio.errors import ProviderBadRequest, ProviderContentFiltered, ProviderError, ProviderWorkFailed
from imagestudio.providers import GeneralEditRequest, GenerationRequest, PendingResult, WaveSpeedClient
from simulators import WaveSpeedSimulator


@pytest.fixture
def wavespeed() -> Iterator[Env]:
    yield from serving(CASES["wavespeed"], sim=WaveSpeedSimulator(in_progress_polls=0))


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


def test_flux_dev_gets_no_output_format_and_its_ranges_are_refused_before_posting() -> None:
    """FLUX.1 dev has no ``output_format`` (it was sent and ignored), takes 1-50 steps and guidance 1-20."""
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"code": 200, "data": {"id": "p1", "status": "created"}})

    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler))
    init = {"init_image": png(), "strength": 0.5}
    client.submit_generate(
        GenerationRequest(
            prompt="p", model="flux-dev", output_format="webp", steps=50, guidance_scale=20, **init
        )
    )
    assert "output_format" not in bodies[0]
    assert (bodies[0]["num_inference_steps"], bodies[0]["guidance_scale"]) == (50, 20)
    for bad in ({"steps": 51}, {"guidance_scale": 0.5}, {"guidance_scale": 21}):
        with pytest.raises(ProviderBadRequest, match="flux-dev takes"):
            client.submit_generate(GenerationRequest(prompt="p", model="flux-dev", **init, **bad))  # type: ignore[arg-type]
    assert len(bodies) == 1  # nothing posted (nothing billed) for the refused ones


def test_simulated_flux_dev_answers_jpeg_and_refuses_out_of_range_steps(wavespeed: Env) -> None:
    init = {"init_image": png(), "strength": 0.5}
    [pending] = wavespeed.client.submit_generate(
        GenerationRequest(prompt="p", model="flux-dev", output_format="png", **init)
    )
    [image] = wavespeed.client.poll(pending) or []
    assert image.content_type == "image/jpeg"  # converted by the studio after download
    with httpx.Client(transport=wavespeed.transport, base_url="http://wavespeed.sim") as http:
        answer = http.post(
            "/api/v3/wavespeed-ai/flux-dev",
            json={"prompt": "p", "num_inference_steps": 60},
            headers={"authorization": f"Bearer {wavespeed.sim.api_key}"},
        )
    assert answer.status_code == 400 and "num_inference_steps must be between 1 and 50" in answer.text


def test_failed_prediction_is_work_failed_with_the_reason(wavespeed: Env) -> None:
    wavespeed.sim.faults.push({"fail": "worker crashed"})

    with pytest.raises(ProviderWorkFailed, match="worker crashed"):
        wavespeed.client.generate(GenerationRequest(prompt="harbour"))


def test_nsfw_failure_is_content_filtered(wavespeed: Env) -> None:
    wavespeed.sim.faults.push({"fail": "NSFW content detected in the output"})

    with pytest.raises(ProviderContentFiltered):
        wavespeed.client.generate(GenerationRequest(prompt="harbour"))


def test_outputs_are_downloaded_without_our_api_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers["host"] == "cdn.example":
            return httpx.Response(200, content=png(), headers={"content-type": "image/png"})
        data = {"id": "p1", "status": "completed", "outputs": ["https://cdn.example/p1/0.png"]}
        return httpx.Response(200, json={"code": 200, "data": data})

    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["93.184.216.34"])
    client = WaveSpeedClient(api_key="secret-key", transport=httpx.MockTransport(handler), egress_guard=guard)
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


def _completed_at(output_url: str) -> Callable[[httpx.Request], httpx.Response | None]:
    """Answers the prediction poll with one output at ``output_url`` (None for other requests)."""

    def poll(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/api/v3/predictions/p1/result":
            data = {"id": "p1", "status": "completed", "outputs": [output_url]}
            return httpx.Response(200, json={"code": 200, "data": data})
        return None

    return poll


def _pending() -> PendingResult:
    return PendingResult(provider="wavespeed", model="qwen-image", remote_id="p1")


@pytest.mark.parametrize(
    ("output_url", "dns"),
    [
        ("http://169.254.169.254/latest/meta-data/", None),
        ("http://10.0.0.5/p1/0.png", None),
        ("http://127.0.0.1:9000/p1/0.png", None),
        ("http://[64:ff9b::a9fe:a9fe]/p1/0.png", None),
        ("http://[::ffff:192.168.1.10]/p1/0.png", None),
        ("https://cdn.example/p1/0.png", "10.1.2.3"),  # a public name resolving inside
    ],
)
def test_an_output_url_reaching_a_private_address_is_refused_unfetched(
    output_url: str, dns: str | None
) -> None:
    fetched: list[str] = []
    poll = _completed_at(output_url)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = poll(request)
        if answer is not None:
            return answer
        fetched.append(str(request.url))
        return httpx.Response(200, content=png())

    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: [dns or "93.184.216.34"])
    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler), egress_guard=guard)

    with pytest.raises(ProviderError, match="output URL") as caught:
        client.poll(_pending())

    assert fetched == []
    assert not caught.value.retryable


def test_an_output_url_on_a_public_cdn_is_fetched_at_the_checked_address() -> None:
    fetched: list[httpx.Request] = []
    poll = _completed_at("https://cdn.example/p1/0.png")

    def handler(request: httpx.Request) -> httpx.Response:
        answer = poll(request)
        if answer is not None:
            return answer
        fetched.append(request)
        return httpx.Response(200, content=png())

    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["93.184.216.34"])
    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler), egress_guard=guard)
    [image] = client.poll(_pending()) or []

    assert image.width == 128
    (request,) = fetched
    assert request.url.host == "93.184.216.34" and request.headers["host"] == "cdn.example"


class _Endless:
    """A response body of ``chunk``-sized pieces that never ends on its own; counts what was read."""

    def __init__(self, chunk: int) -> None:
        self.chunk, self.served = chunk, 0

    def __iter__(self) -> Iterator[bytes]:
        while self.served < 10_000:  # a bound for the test itself; the cap must stop far earlier
            self.served += 1
            yield b"\0" * self.chunk


def test_an_oversize_output_is_cut_off_at_the_cap_without_reading_it_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(WaveSpeedClient, "max_response_bytes", 64 * 1024)
    body = _Endless(chunk=16 * 1024)
    poll = _completed_at("https://cdn.example/p1/0.png")

    def handler(request: httpx.Request) -> httpx.Response:
        return poll(request) or httpx.Response(200, content=body)

    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["93.184.216.34"])
    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler), egress_guard=guard)

    with pytest.raises(ProviderError, match="exceeds 65536 bytes"):
        client.poll(_pending())

    assert body.served <= 5  # four chunks fill the cap, the fifth crosses it: nothing more is read


def test_a_declared_oversize_output_is_refused_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WaveSpeedClient, "max_response_bytes", 64 * 1024)
    body = _Endless(chunk=16 * 1024)
    poll = _completed_at("https://cdn.example/p1/0.png")

    def handler(request: httpx.Request) -> httpx.Response:
        return poll(request) or httpx.Response(200, content=body, headers={"content-length": str(10**9)})

    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["93.184.216.34"])
    client = WaveSpeedClient(api_key="k", transport=httpx.MockTransport(handler), egress_guard=guard)

    with pytest.raises(ProviderError, match="exceeds 65536 bytes"):
        client.poll(_pending())

    assert body.served == 0


def test_an_oversize_api_reply_is_cut_off_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WaveSpeedClient, "max_response_bytes", 64 * 1024)
    body = _Endless(chunk=16 * 1024)
    client = WaveSpeedClient(
        api_key="k", transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    )

    with pytest.raises(ProviderError, match="exceeds 65536 bytes"):
        client.poll(_pending())

    assert body.served <= 5
