"""Upscale jobs through the embedded broker and worker: every mode on the simulator and locally, async polls, refusals."""

from __future__ import annotations

import io
from typing import Any

import pytest
from edit_support import Studio, decode, flat_png, open_circuit, output_bytes, png
from PIL import Image
from support import wait_for


def job_state(studio: Studio, job_id: str) -> dict[str, Any]:
    return studio.get(f"/jobs/{job_id}").json()  # type: ignore[no-any-return]


# --- modes ---------------------------------------------------------------------------------------


def test_fast_on_stability_is_exactly_4x(studio: Studio) -> None:
    job = studio.run("upscale", {"mode": "fast", "path": "provider"}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert (output["width"], output["height"]) == (1024, 768)
    meta = output["metadata"]
    assert (meta["provider"], meta["model"], meta["credits"], meta["scale"]) == (
        "stability",
        "upscale/fast",
        2,
        4.0,
    )
    assert decode(output_bytes(studio, job, "upscaled")).size == (1024, 768)


def test_fast_locally_is_exactly_4x_and_decodes(local_studio: Studio) -> None:
    job = local_studio.run("upscale", {"mode": "fast", "output_format": "jpeg"}, {"image": png(203, 157)})
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert (output["metadata"]["path"], output["metadata"]["credits"]) == ("local", 0)
    image = decode(output_bytes(local_studio, job, "upscaled"))
    assert image.size == (812, 628) == (output["width"], output["height"]) and image.format == "JPEG"


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "GIF"])
def test_the_local_path_upscales_formats_providers_do_not_read(local_studio: Studio, fmt: str) -> None:
    """Issue 13: a BMP (or TIFF, GIF) accepted with a 202 is served by the local decoder, not failed after.

    Edit's local path takes the same files: ``tests/unit/gateway/test_hostile_uploads.py`` (case ``bmp``).
    """
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), "teal").save(buffer, format=fmt)
    job = local_studio.run("upscale", {"mode": "fast", "output_format": "png"}, {"image": buffer.getvalue()})
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert output["metadata"]["path"] == "local"
    image = decode(output_bytes(local_studio, job, "upscaled"))
    assert image.size == (384, 256) and image.format == "PNG"
    centre = image.convert("RGB").getpixel((192, 128))
    assert (
        isinstance(centre, tuple) and max(abs(c - e) for c, e in zip(centre, (0, 128, 128), strict=True)) <= 3
    )


@pytest.mark.parametrize("path", ["provider", "local"])
def test_conservative_upscales_towards_4_megapixels(studio: Studio, path: str) -> None:
    job = studio.run("upscale", {"mode": "conservative", "path": path}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    assert output["metadata"]["provider"] == ("stability" if path == "provider" else "local")
    assert abs(output["width"] / output["height"] - 256 / 192) < 0.01
    if path == "local":
        assert abs(output["width"] * output["height"] / 4_194_304 - 1) < 0.01
    else:
        assert output["width"] > 256 * 3 and output["metadata"]["credits"] == 40
    params = job["params"]
    assert params["prompt"] == "Sharp, detailed, high resolution image" and params["creativity"] == 0.35


def test_an_explicit_creativity_and_the_preset_are_honoured(studio: Studio) -> None:
    """The seed ignored ``preset`` and turned an explicit value into the default."""
    job = studio.submit(
        "upscale",
        {"mode": "conservative", "creativity": 0.45, "preset": "faithful"},
        {"image": png(256, 192)},
    )
    params = job["params"]
    assert params["creativity"] == 0.45
    assert params["prompt"] == "High fidelity upscale preserving original details" and params["quality"] == 95
    creative = studio.submit("upscale", {"mode": "creative", "preset": "enhanced"}, {"image": png(256, 192)})
    assert creative["params"]["style_preset"] == "enhance" and creative["params"]["creativity"] == 0.35


# --- creative: asynchronous at the provider --------------------------------------------------


def test_creative_is_polled_by_separate_short_messages(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push({"stay_in_progress": 3, "path": "/upscale/creative"})
    job = studio.run("upscale", {"mode": "creative", "prompt": "a sharp photo"}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1  # one run_job delivery; the waiting was done by poll messages
    assert stability.calls.count("/upscale/creative", method="POST") == 1
    assert stability.calls.count("/v2beta/results/", method="GET") == 4  # three in progress, then the image
    assert job["params"]["pending"] is None and job["params"]["provider_work"]["polls"] == 4
    [output] = job["outputs"]
    assert output["metadata"]["remote_id"] == job["params"]["provider_work"]["remote_id"]
    assert output["metadata"]["credits"] == 60 and decode(output_bytes(studio, job, "upscaled")).size == (
        output["width"],
        output["height"],
    )


def test_creative_polls_ride_out_5xx_and_429(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push({"stay_in_progress": 2, "path": "/upscale/creative"})
    stability.faults.push(
        {"status": 503, "path": "/v2beta/results/"},
        {"path": "/v2beta/results/"},  # an ordinary answer between the two faults
        {"status": 429, "retry_after": 0.05, "path": "/v2beta/results/"},
    )
    job = studio.run("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    assert job["status"] == "succeeded", job
    assert stability.calls.count("/v2beta/results/") == 5 and job["attempts"] == 1


def test_creative_wait_does_not_hold_the_only_worker_thread(one_thread_studio: Studio) -> None:
    studio = one_thread_studio
    studio.sims["stability"].faults.push({"stay_in_progress": 10_000, "path": "/upscale/creative"})
    creative = studio.submit("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    wait_for(
        lambda: (job_state(studio, creative["id"])["params"].get("pending") or {}).get("polls", 0) >= 2,
        what="the creative upscale to be polled twice",
    )
    fast = studio.run("upscale", {"mode": "fast", "path": "local"}, {"image": png(64, 48)})
    assert fast["status"] == "succeeded"  # served by the one thread while the creative still waits
    assert job_state(studio, creative["id"])["status"] == "running"
    assert (
        studio.embedded.client.post(
            f"/api/image-studio/jobs/{creative['id']}/cancel", headers=studio.headers()
        ).status_code
        == 200
    )


def test_creative_fails_when_the_result_is_not_ready_by_the_deadline(short_deadline_studio: Studio) -> None:
    studio = short_deadline_studio
    studio.sims["stability"].faults.push({"stay_in_progress": 10_000, "path": "/upscale/creative"})
    job = studio.run("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    assert job["status"] == "failed"
    assert (
        job["error"]["type"].endswith("/provider-timeout")
        and "not ready after 0.5 s" in job["error"]["detail"]
    )


def test_stale_and_finished_polls_call_nothing(studio: Studio) -> None:
    from imagestudio.studios import upscale

    stability = studio.sims["stability"]
    stability.faults.push({"stay_in_progress": 10_000, "path": "/upscale/creative"})
    job = studio.submit("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    wait_for(lambda: job_state(studio, job["id"])["params"].get("pending"), what="the work to be submitted")
    assert studio.embedded.worker is not None
    studio.embedded.worker.stop()  # freeze the chain
    studio.embedded.worker = None
    seq = job_state(studio, job["id"])["params"]["pending"]["seq"]
    calls = stability.calls.count("/v2beta/results/")

    upscale.poll(job["id"], seq=seq - 1)  # a redelivered message whose successor is already staged
    assert stability.calls.count("/v2beta/results/") == calls
    assert job_state(studio, job["id"])["params"]["pending"]["seq"] == seq

    upscale.poll(job["id"], seq=seq)  # the current one polls and stages the next
    assert stability.calls.count("/v2beta/results/") == calls + 1
    assert job_state(studio, job["id"])["params"]["pending"]["seq"] == seq + 1

    studio.embedded.client.post(f"/api/image-studio/jobs/{job['id']}/cancel", headers=studio.headers())
    upscale.poll(job["id"], seq=seq + 1)  # canceled: the chain ends without calling the provider
    assert stability.calls.count("/v2beta/results/") == calls + 1


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "image", "status", "field"),
    [
        ({"mode": "fast", "path": "provider"}, (1600, 600), 413, "image"),  # a side over 1536
        ({"mode": "fast", "path": "provider"}, (30, 40), 422, "image"),  # under 32 per side
        ({"mode": "creative"}, (1100, 1000), 413, "image"),  # over 1,048,576 pixels, and no local path
        (
            {"mode": "conservative", "path": "provider"},
            (600, 200),
            422,
            "image",
        ),  # 3:1 is outside 1:2.5..2.5:1
        ({"mode": "conservative", "path": "local"}, (2048, 2048), 422, "image"),  # already 4 MP
        ({"mode": "creative", "creativity": 0.4}, (256, 192), 422, "creativity"),
        ({"mode": "conservative", "creativity": 0.6}, (256, 192), 422, "creativity"),
        # Stability's conservative range is 0.2-0.5 (0.1 was its 400 after the call), creative's from 0.1.
        ({"mode": "conservative", "creativity": 0.1}, (256, 192), 422, "creativity"),
        ({"mode": "creative", "creativity": 0.05}, (256, 192), 422, "creativity"),
        ({"mode": "fast", "prompt": "sharper"}, (256, 192), 422, "prompt"),
        ({"mode": "creative", "path": "local"}, (256, 192), 422, "path"),
        ({"mode": "huge"}, (256, 192), 422, "mode"),
        ({"mode": "fast", "preset": "vivid"}, (256, 192), 422, "preset"),
    ],
)
def test_bad_upscale_requests_are_refused_before_anything_is_stored(
    studio: Studio, data: dict[str, Any], image: tuple[int, int], status: int, field: str
) -> None:
    response = studio.post("upscale", data, {"image": flat_png(*image)})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    studio.nothing_stored()


def test_creative_without_a_provider_is_refused(local_studio: Studio) -> None:
    response = local_studio.post("upscale", {"mode": "creative"}, {"image": png(256, 192)})
    assert response.status_code == 422 and response.json()["field"] == "path"
    local_studio.nothing_stored()


def test_fast_over_the_provider_limit_goes_local_in_auto(studio: Studio) -> None:
    job = studio.submit("upscale", {"mode": "fast"}, {"image": flat_png(1600, 600)})
    assert [r["provider"] for r in job["params"]["routes"]] == ["local"]
    assert "1,536 pixel limit" in job["params"]["skipped"][0]["reason"]


def test_modes_list_limits_credits_paths_and_presets(studio: Studio) -> None:
    body = studio.get("/upscale/modes").json()
    modes = {mode["id"]: mode for mode in body["modes"]}
    assert (
        modes["fast"]["provider"]["limits"]["max_side"] == 1536 and modes["fast"]["provider"]["credits"] == 2
    )
    assert modes["fast"]["local"]["available"] is True and modes["fast"]["optional"] == [
        "output_format",
        "preset",
        "path",
    ]
    assert modes["conservative"]["provider"]["limits"]["aspect_ratio"] == "1:2.5 to 2.5:1"
    assert modes["creative"]["provider"]["asynchronous"] is True and modes["creative"]["local"] == {
        "available": False
    }
    assert modes["creative"]["max_creativity"] == 0.35
    assert (modes["conservative"]["min_creativity"], modes["conservative"]["max_creativity"]) == (0.2, 0.5)
    # What the console's target-size preview is computed from.
    assert modes["fast"]["target"] == {"scale": 4, "pixels": None}
    assert modes["conservative"]["target"] == {"scale": None, "pixels": 2048 * 2048}
    assert [p["id"] for p in body["presets"]] == ["faithful", "balanced", "enhanced"]


def test_estimate_equals_the_charge_when_the_planned_provider_serves(studio: Studio) -> None:
    estimate = studio.estimate("upscale", {"mode": "fast", "path": "provider"}).json()["total_credits"]
    job = studio.run("upscale", {"mode": "fast", "path": "provider"}, {"image": png(128, 96)})
    assert job["status"] == "succeeded", job
    assert estimate > 0 and studio.charged(job["id"]) == estimate


def test_estimate_follows_the_local_route_while_the_provider_circuit_is_open(studio: Studio) -> None:
    open_circuit("stability")
    estimate = studio.estimate("upscale", {"mode": "fast"}).json()
    assert estimate["breakdown"][0]["provider"] == "local"
    assert estimate["total_credits"] == estimate["max_credits"] == 0
    job = studio.run("upscale", {"mode": "fast"}, {"image": png(128, 96)})
    assert job["status"] == "succeeded", job
    assert job["params"]["routes"][0]["provider"] == "local"
    assert job["params"]["estimated_credits"] == 0  # nothing was held for the local path either


def test_auto_estimate_is_the_provider_charge_held_at_the_dearest_route(studio: Studio) -> None:
    estimate = studio.estimate("upscale", {"mode": "fast"}).json()
    job = studio.run("upscale", {"mode": "fast"}, {"image": png(128, 96)})
    assert job["status"] == "succeeded", job
    assert estimate["max_credits"] == job["params"]["estimated_credits"]
    assert estimate["total_credits"] == job["params"]["routes"][0]["credits"] == 2
