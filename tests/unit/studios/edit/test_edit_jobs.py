"""Edit jobs through the embedded broker and worker: every operation on the simulators and locally, faults, fallback."""

from __future__ import annotations

from typing import Any

import pytest
from edit_support import Studio, decode, mask_png, output_bytes, png, product_png

#: One request per operation that its provider path accepts.
PROVIDER_REQUESTS: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "remove_background": ({}, {"image": product_png()}),
    "inpaint": ({"prompt": "a vase of tulips", "grow_mask": 3}, {"image": png(), "mask": mask_png()}),
    "outpaint": ({"left": 64, "up": 32, "prompt": "more sky", "creativity": 0.4}, {"image": png()}),
    "search_replace": ({"prompt": "a golden retriever", "search_prompt": "the cat"}, {"image": png()}),
    "search_recolor": ({"prompt": "navy blue", "select_prompt": "the jacket"}, {"image": png()}),
    "erase": ({"seed": 7}, {"image": png(), "mask": mask_png()}),
    "replace_background_relight": (
        {"prompt": "a sunny beach"},
        {"image": product_png(), "light_reference": png()},
    ),
    "general_edit": ({"prompt": "make it night time", "model": "flux-kontext-pro"}, {"image": png()}),
}
#: The operations with a local path, each with inputs it accepts.
LOCAL_REQUESTS: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "remove_background": ({"output_format": "webp"}, {"image": product_png()}),
    "inpaint": ({"prompt": "ignored locally"}, {"image": png(), "mask": mask_png()}),
    "outpaint": ({"left": 40, "right": 24, "down": 16}, {"image": png()}),
    "search_recolor": (
        {"prompt": "#1e90ff", "select_prompt": "the ball"},
        {"image": png(), "mask": mask_png()},
    ),
    "erase": ({}, {"image": product_png(transparent_hole=True)}),
}


@pytest.mark.parametrize("operation", sorted(PROVIDER_REQUESTS))
def test_every_operation_runs_on_its_provider(studio: Studio, operation: str) -> None:
    data, files = PROVIDER_REQUESTS[operation]
    job = studio.run("edit", {"operation": operation, "path": "provider", **data}, files)
    assert job["status"] == "succeeded", job
    [output] = job["outputs"]
    meta = output["metadata"]
    provider = "wavespeed" if operation == "general_edit" else "stability"
    assert (meta["path"], meta["provider"], meta["simulated"]) == ("provider", provider, True)
    assert meta["operation"] == operation and meta["credits"] == job["params"]["estimated_credits"] > 0
    image = decode(output_bytes(studio, job, "edited"))
    assert image.size == (output["width"], output["height"])
    if operation == "outpaint":
        assert image.size == (320 + 64, 256 + 32)
    sim = studio.sims[provider]
    if operation in ("replace_background_relight", "general_edit"):
        # Asynchronous: submitted once, then polled by separate poll messages until done.
        assert meta["remote_id"] and job["params"]["pending"] is None
        assert job["params"]["provider_work"]["polls"] == 2  # one in progress, then the result
        polled = "/v2beta/results/" if provider == "stability" else "/api/v3/predictions/"
        assert sim.calls.count(polled, method="GET") == 2
    else:
        assert sim.calls.count("/v2beta/stable-image/edit/", method="POST") == 1


@pytest.mark.parametrize("operation", sorted(LOCAL_REQUESTS))
def test_operations_with_a_local_path_run_without_any_provider(local_studio: Studio, operation: str) -> None:
    data, files = LOCAL_REQUESTS[operation]
    job = local_studio.run("edit", {"operation": operation, **data}, files)  # path auto: no provider here
    assert job["status"] == "succeeded", job
    assert [r["provider"] for r in job["params"]["routes"]] == ["local"]
    assert job["params"]["skipped"][0]["reason"] == "not configured"
    [output] = job["outputs"]
    assert (output["metadata"]["path"], output["metadata"]["provider"], output["metadata"]["credits"]) == (
        "local",
        "local",
        0,
    )
    image = decode(output_bytes(local_studio, job, "edited"))
    expected = {"outpaint": (320 + 64, 256 + 16)}.get(operation, (320, 256))
    assert image.size == expected == (output["width"], output["height"])
    if operation == "remove_background":
        assert output["format"] == "webp" and image.mode == "RGBA"
        assert image.getpixel((2, 2))[3] == 0 and image.getpixel((160, 128))[3] == 255
    if operation == "search_recolor":
        red, green, blue = image.convert("RGB").getpixel((160, 128))
        assert blue > red and blue > green  # recoloured to dodger blue inside the mask


def test_auto_prefers_the_configured_provider_and_keeps_local_as_fallback(studio: Studio) -> None:
    job = studio.run("edit", {"operation": "erase"}, {"image": png(), "mask": mask_png()})
    assert [r["provider"] for r in job["params"]["routes"]] == ["stability", "local"]
    assert job["params"]["estimated_credits"] == 5  # the dearest route is held
    assert job["outputs"][0]["metadata"]["provider"] == "stability"


def test_a_failing_provider_falls_back_to_the_local_path_and_says_so(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push(*[{"status": 503, "path": "/edit/inpaint"}] * 2)
    job = studio.run(
        "edit", {"operation": "inpaint", "prompt": "tulips"}, {"image": png(), "mask": mask_png()}
    )
    assert job["status"] == "succeeded", job
    meta = job["outputs"][0]["metadata"]
    assert (meta["provider"], meta["credits"]) == ("local", 0)
    [step] = meta["fallback_from"]
    assert step["provider"] == "stability" and "unavailable (503)" in step["reason"]
    assert stability.calls.count("/edit/inpaint") == 2  # both attempts, then local


def test_rate_limit_is_retried_after_retry_after(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push({"status": 429, "retry_after": 0.05, "path": "/edit/erase"})
    job = studio.run("edit", {"operation": "erase", "path": "provider"}, {"image": png(), "mask": mask_png()})
    assert job["status"] == "succeeded", job
    assert job["outputs"][0]["metadata"]["attempts"] == 2 and job["attempts"] == 1


def test_a_retry_after_too_long_for_a_thread_reschedules_the_job(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push(
        {"status": 429, "retry_after": 1.5, "path": "/edit/erase"}
    )  # over the 1 s we may wait
    job = studio.run("edit", {"operation": "erase", "path": "provider"}, {"image": png(), "mask": mask_png()})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and stability.calls.count("/edit/erase") == 2


def test_content_filter_fails_the_job_at_once_without_fallback(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push({"content_filter": True, "path": "/edit/inpaint"})
    job = studio.run("edit", {"operation": "inpaint", "prompt": "x"}, {"image": png(), "mask": mask_png()})
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["type"].endswith("/content-filtered") and job["error"]["provider"] == "stability"
    assert job["outputs"] == []


def test_jpeg_background_removal_on_stability_is_converted(studio: Studio) -> None:
    job = studio.run(
        "edit",
        {"operation": "remove_background", "path": "provider", "output_format": "jpeg"},
        {"image": product_png()},
    )
    assert job["status"] == "succeeded", job
    output = job["outputs"][0]
    assert (output["format"], output["content_type"]) == ("jpeg", "image/jpeg")
    assert decode(output_bytes(studio, job, "edited")).format == "JPEG"


def test_an_image_over_the_provider_limit_goes_local_in_auto(studio: Studio) -> None:
    # 2100 x 2100 is over remove-background's 4,194,304 pixels, well within the local path's.
    job = studio.submit("edit", {"operation": "remove_background"}, {"image": png(2100, 2100)})
    assert [r["provider"] for r in job["params"]["routes"]] == ["local"]
    assert "4,194,304 pixel limit" in job["params"]["skipped"][0]["reason"]
    assert job["params"]["estimated_credits"] == 0


def test_async_relight_that_fails_at_the_provider_is_resubmitted_on_a_new_delivery(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push({"fail": "the model crashed", "path": "/edit/replace-background"})
    job = studio.run(
        "edit", {"operation": "replace_background_relight", "prompt": "a beach"}, {"image": product_png()}
    )
    assert job["status"] == "succeeded", job
    # The work failed at the provider (a 500 on its result): submitted again on a new delivery.
    assert stability.calls.count("/edit/replace-background-and-relight", method="POST") == 2
    assert job["attempts"] == 2


def test_poll_errors_on_wavespeed_edit_work_repoll_it_and_never_submit_it_again(studio: Studio) -> None:
    wavespeed = studio.sims["wavespeed"]
    # More failed polls in a row than PROVIDER_MAX_ATTEMPTS: the accepted prediction may still run (billed).
    wavespeed.faults.push(
        {"status": 429, "retry_after": 0.01, "path": "/api/v3/predictions/"},
        *[{"status": 503, "path": "/api/v3/predictions/"}] * 4,
    )
    data, files = PROVIDER_REQUESTS["general_edit"]
    job = studio.run("edit", {"operation": "general_edit", "path": "provider", **data}, files)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1
    assert wavespeed.calls.count("/api/v3/wavespeed-ai/flux-kontext-pro", method="POST") == 1
    assert job["params"]["provider_work"]["polls"] == 7  # five failed polls, one in progress, the result
