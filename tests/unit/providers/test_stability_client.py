"""StabilityClient against the Stability simulator: generate, edit, upscale, async results."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from provider_support import CASES, Env, in_process, open_image, png, serving

from imagestudio.errors import ProviderBadRequest, ProviderContentFiltered, ProviderTimeout
from imagestudio.providers import EditRequest, GenerationRequest, StabilityClient, UpscaleRequest
from simulators import InProcessTransport, StabilitySimulator


@pytest.fixture
def stability() -> Iterator[Env]:
    yield from serving(CASES["stability"], sim=StabilitySimulator(in_progress_polls=0))


def test_ultra_outputs_one_megapixel_at_the_asked_ratio(stability: Env) -> None:
    [image] = stability.client.generate(GenerationRequest(prompt="dunes", model="ultra", aspect_ratio="9:16"))

    assert (image.width, image.height) == (768, 1344)
    assert image.seed is not None and image.seed > 0  # seed 0 means "random"; the answer names the seed used


def test_width_and_height_pick_the_nearest_supported_ratio(stability: Env) -> None:
    [image] = stability.client.generate(
        GenerationRequest(prompt="banner", model="ultra", width=2560, height=1080)
    )

    assert (image.width, image.height) == (1536, 640)  # 21:9


def recording_client() -> tuple[StabilityClient, list[httpx.Request]]:
    """A client whose every request is kept (in the list) and answered with a 64x64 PNG."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=png(64, 64), headers={"finish-reason": "SUCCESS", "seed": "9"})

    return StabilityClient(api_key="k", transport=httpx.MockTransport(handler)), seen


def test_sd3_models_go_to_the_sd3_endpoint_with_the_model_field() -> None:
    client, seen = recording_client()
    client.generate(
        GenerationRequest(prompt="p", model="sd3.5-large-turbo", guidance_scale=1.0, style_preset="anime")
    )

    request = seen[0]
    body = request.read().decode()
    assert request.url.path == "/v2beta/stable-image/generate/sd3"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["accept"] == "image/*"
    assert request.headers["authorization"] == "Bearer k"
    assert 'name="model"\r\n\r\nsd3.5-large-turbo' in body
    assert 'name="cfg_scale"\r\n\r\n1.0' in body
    assert 'name="style_preset"\r\n\r\nanime' in body  # sd3 takes a style preset (it was dropped)


def test_sd3_answers_webp_as_asked_and_takes_the_preset(stability: Env) -> None:
    """sd3 now answers webp and takes ``style_preset`` (the client rewrote webp to png and dropped the preset)."""
    [image] = stability.client.generate(
        GenerationRequest(prompt="p", model="sd3.5-medium", output_format="webp", style_preset="anime")
    )
    assert image.content_type == "image/webp"


def test_vendor_ranges_are_refused_before_any_call() -> None:
    """grow_mask 0-20 and conservative creativity 0.2-0.5 are Stability's; outside them its 400 came after."""
    with pytest.raises(ValueError, match="grow_mask"):
        EditRequest(operation="erase", image=png(), grow_mask=21)
    with pytest.raises(ValueError, match="creativity 0.2 to 0.5"):
        UpscaleRequest(mode="conservative", image=png(), prompt="p", creativity=0.1)
    assert UpscaleRequest(mode="creative", image=png(), prompt="p", creativity=0.1).creativity == 0.1


def test_simulator_refuses_what_the_vendor_refuses(stability: Env) -> None:
    sim = stability.sim
    with httpx.Client(transport=InProcessTransport(sim.app), base_url="http://stability.sim") as http:
        headers = {"authorization": f"Bearer {sim.api_key}", "accept": "image/*"}
        erase = http.post(
            "/v2beta/stable-image/edit/erase",
            headers=headers,
            files={"image": ("i", png(), "image/png"), "grow_mask": (None, "21")},
        )
        upscale = http.post(
            "/v2beta/stable-image/upscale/conservative",
            headers=headers,
            files={"image": ("i", png(), "image/png"), "prompt": (None, "p"), "creativity": (None, "0.1")},
        )
    assert erase.status_code == 400 and "grow_mask: must be between 0 and 20" in erase.json()["errors"]
    assert (
        upscale.status_code == 400 and "creativity: must be between 0.2 and 0.5" in upscale.json()["errors"]
    )


def test_content_filtered_finish_reason_is_a_billed_blurred_success(stability: Env) -> None:
    """Stability answers 200 ``finish-reason: CONTENT_FILTERED`` with a blurred image and bills it."""
    stability.sim.faults.push({"finish_reason": "CONTENT_FILTERED"})

    [image] = stability.client.generate(GenerationRequest(prompt="something"))

    assert image.content_filtered is True
    assert stability.sim.calls.entries()[-1].status == 200
    [clean] = stability.client.generate(GenerationRequest(prompt="something"))
    assert clean.content_filtered is False


def test_moderation_refusal_is_a_403_content_filter(stability: Env) -> None:
    stability.sim.faults.push({"content_filter": True})

    with pytest.raises(ProviderContentFiltered, match="content moderation"):
        stability.client.generate(GenerationRequest(prompt="something"))

    assert stability.sim.calls.entries()[-1].status == 403


def test_403_moderation_is_content_filtered(stability: Env) -> None:
    stability.sim.faults.push(
        {"status": 403, "message": "Your request was flagged by our content moderation system"}
    )

    with pytest.raises(ProviderContentFiltered, match="flagged"):
        stability.client.generate(GenerationRequest(prompt="something"))


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (EditRequest(operation="erase", image=png()), lambda image: image.size == (128, 96)),
        (
            EditRequest(operation="inpaint", image=png(), prompt="a cat"),
            lambda image: image.size == (128, 96),
        ),
        (
            EditRequest(operation="outpaint", image=png(), left=32, up=8, prompt="more sky"),
            lambda image: image.size == (160, 104),
        ),
        (
            EditRequest(operation="search-and-replace", image=png(), prompt="a cat", search_prompt="dog"),
            lambda image: image.size == (128, 96),
        ),
        (
            EditRequest(operation="search-and-recolor", image=png(), prompt="red", select_prompt="box"),
            lambda image: image.size == (128, 96),
        ),
        (
            EditRequest(operation="remove-background", image=png(), output_format="webp"),
            lambda image: image.mode == "RGBA" and image.format == "WEBP",
        ),
    ],
    ids=lambda value: value.operation if isinstance(value, EditRequest) else "",
)
def test_edits_return_a_transform_of_the_upload(stability: Env, edit: EditRequest, check: object) -> None:
    result = stability.client.edit(edit)

    image = open_image(result.data)
    assert check(image)  # type: ignore[operator]
    assert result.model == f"edit/{edit.operation}"


def test_remove_background_makes_the_background_transparent(stability: Env) -> None:
    result = stability.client.edit(EditRequest(operation="remove-background", image=png()))

    image = open_image(result.data)
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert image.getpixel((64, 48))[3] == 255  # type: ignore[index]


def test_fast_upscale_is_four_times_larger(stability: Env) -> None:
    result = stability.client.upscale(UpscaleRequest(mode="fast", image=png(100, 60)))

    assert (result.width, result.height) == (400, 240)


def test_creative_upscale_is_polled_until_ready() -> None:
    environment = in_process(CASES["stability"], sim=StabilitySimulator(in_progress_polls=0))
    client, sim = environment.client, environment.sim
    sim.faults.push({"stay_in_progress": 2})
    try:
        pending = client.submit_upscale(UpscaleRequest(mode="creative", image=png(), prompt="crisp"))
        polls = [client.poll(pending), client.poll(pending), client.poll(pending)]
    finally:
        client.close()

    assert pending.kind == "upscale:creative"
    assert polls[0] is None and polls[1] is None
    assert polls[2] is not None
    [image] = polls[2]
    assert (image.width, image.height) == (512, 384)
    assert image.seed is not None
    assert sim.calls.count("/v2beta/results/", method="GET") == 3


def test_relight_is_asynchronous_and_waits_through_progress(stability: Env) -> None:
    stability.sim.faults.push({"stay_in_progress": 3})
    pending = stability.client.submit_edit(
        EditRequest(operation="replace-background-and-relight", image=png(), background_reference=png(64, 64))
    )
    slept: list[float] = []

    [image] = stability.client.wait(pending, interval=0.5, deadline=10, sleep=slept.append)

    assert slept == [0.5, 0.5, 0.5]
    assert image.model == "edit/replace-background-and-relight"


def test_wait_gives_up_at_the_deadline(stability: Env) -> None:
    stability.sim.faults.push({"stay_in_progress": 100})
    pending = stability.client.submit_upscale(UpscaleRequest(mode="creative", image=png(), prompt="crisp"))

    with pytest.raises(ProviderTimeout, match="not ready"):
        stability.client.wait(pending, interval=1.0, deadline=2.5, sleep=lambda _: None)


def test_unknown_result_id_is_a_bad_request(stability: Env) -> None:
    from imagestudio.providers import PendingResult

    with pytest.raises(ProviderBadRequest, match="404"):
        stability.client.poll(PendingResult(provider="stability", model="upscale/creative", remote_id="nope"))


def test_sync_and_async_entry_points_are_not_mixed_up(stability: Env) -> None:
    with pytest.raises(ValueError, match="asynchronous"):
        stability.client.upscale(UpscaleRequest(mode="creative", image=png(), prompt="x"))
    with pytest.raises(ValueError, match="synchronous"):
        stability.client.submit_edit(EditRequest(operation="erase", image=png()))
    assert stability.sim.calls.count() == 0


def _form_of(model: str, strength: float) -> tuple[str, str]:
    client, seen = recording_client()
    client.generate(
        GenerationRequest(
            prompt="p", model=model, aspect_ratio="16:9", init_image=png(96, 64), strength=strength
        )
    )
    return seen[0].url.path, seen[0].read().decode("latin-1")


def test_sd3_image_to_image_sends_mode_image_and_a_zero_strength_without_aspect() -> None:
    path, body = _form_of("sd3.5-medium", 0.0)

    assert path == "/v2beta/stable-image/generate/sd3"
    assert 'name="mode"\r\n\r\nimage-to-image' in body
    assert 'name="strength"\r\n\r\n0.0' in body  # 0.0 is a strength, not a missing one
    assert 'name="image"; filename="image"' in body
    assert 'name="aspect_ratio"' not in body  # text-to-image only: the output keeps the image's shape


def test_ultra_image_to_image_sends_image_and_strength() -> None:
    path, body = _form_of("ultra", 0.35)

    assert path == "/v2beta/stable-image/generate/ultra"
    assert 'name="strength"\r\n\r\n0.35' in body and 'name="image"; filename="image"' in body
    assert 'name="mode"' not in body


def test_core_refuses_an_init_image_before_calling() -> None:
    client = StabilityClient(api_key="k", transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(ValueError, match="no init image"):
        client.generate(GenerationRequest(prompt="p", model="core", init_image=png(64, 64), strength=0.5))


def test_simulator_keeps_the_init_image_shape_and_honours_strength_zero(stability: Env) -> None:
    source = png(192, 128)
    want = open_image(source).convert("RGB")

    def distance(strength: float) -> float:
        [image] = stability.client.generate(
            GenerationRequest(prompt="a fox", model="sd3.5-large", init_image=source, strength=strength)
        )
        assert abs(image.width / image.height - 1.5) < 0.05  # the init image's shape, not 1:1
        got = open_image(image.data).convert("RGB").resize(want.size)
        pairs = zip(got.tobytes(), want.tobytes(), strict=True)
        return sum(abs(a - b) for a, b in pairs) / (3 * want.width * want.height)

    # strength 0 gives the init image back (resized), not a render blended halfway into it
    assert distance(0.0) < 4 < distance(1.0)


def test_simulator_refuses_image_to_image_without_strength() -> None:
    sim = StabilitySimulator()
    with httpx.Client(transport=InProcessTransport(sim.app), base_url="http://sim") as raw:
        response = raw.post(
            "/v2beta/stable-image/generate/sd3",
            headers={"authorization": f"Bearer {sim.api_key}", "accept": "image/*"},
            files=[
                ("prompt", (None, "a fox")),
                ("mode", (None, "image-to-image")),
                ("image", ("image", png(96, 96), "image/png")),
            ],
        )
    assert response.status_code == 400
    assert any("strength" in error for error in response.json()["errors"])
