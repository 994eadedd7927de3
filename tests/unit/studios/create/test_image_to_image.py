"""Image-to-image in create: init_image and strength bounds, selection of capable models, jobs, refusals."""

from __future__ import annotations

import io
from typing import Any

import pytest
from create_support import API, CreateStack
from PIL import Image
from pydantic import ValidationError
from support import make_image
from test_create_validation import nothing_enqueued, refused

from imagestudio.errors import ValidationFailed
from imagestudio.providers.registry import CATALOGUE
from imagestudio.providers.selection import plan
from imagestudio.studios.create import CreateRequest


def upload(stack: CreateStack, width: int = 480, height: int = 320) -> str:
    created = stack.embedded.client.post(
        f"{API}/uploads",
        headers=stack.headers(),
        files={"file": ("in.png", make_image(width, height), "image/png")},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# --- the request's bounds ----------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.0, 0.35, 1.0])
def test_strength_in_range_is_kept_exactly(strength: float) -> None:
    request = CreateRequest.model_validate({"prompt": "p", "init_image": "upl_x", "strength": strength})
    assert request.strength == strength


@pytest.mark.parametrize("strength", [-0.01, 1.01, "lots"])
def test_strength_out_of_range_is_refused(strength: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        CreateRequest.model_validate({"prompt": "p", "init_image": "upl_x", "strength": strength})
    assert [error["loc"] for error in caught.value.errors()] == [("strength",)]


@pytest.mark.parametrize("strength", [-0.5, 1.5])
def test_out_of_range_strength_is_a_422_naming_the_field(create_stack: CreateStack, strength: float) -> None:
    body = {"prompt": "a fox", "init_image": upload(create_stack), "strength": strength}
    response = create_stack.post(body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "strength" in response.text
    nothing_enqueued()


def test_strength_without_an_init_image_is_refused(create_stack: CreateStack) -> None:
    problem = refused(create_stack, {"prompt": "a fox", "strength": 0.0}, "strength")
    assert "init_image" in problem["detail"]


def test_an_unknown_upload_id_is_refused_naming_init_image(create_stack: CreateStack) -> None:
    refused(create_stack, {"prompt": "a fox", "init_image": "upl_missing"}, "init_image")


def test_a_model_or_provider_that_takes_no_init_image_is_refused(create_stack: CreateStack) -> None:
    init = upload(create_stack)
    problem = refused(create_stack, {"prompt": "a fox", "init_image": init, "model": "core"}, "model")
    assert "sd3.5-large" in problem["detail"]  # names the models that can
    refused(create_stack, {"prompt": "a fox", "init_image": init, "provider": "huggingface"}, "provider")
    problem = refused(
        create_stack, {"prompt": "a fox", "init_image": init, "model": "imagen-4.0-generate-001"}, "model"
    )
    assert "shut imagen-4.0-generate-001 down on 2026-08-17" in problem["detail"]
    assert "gemini-3.1-flash-image" in problem["detail"]


def test_an_image_to_image_only_model_without_an_init_image_is_refused(create_stack: CreateStack) -> None:
    problem = refused(create_stack, {"prompt": "a fox", "model": "flux-dev"}, "model")
    assert "init_image" in problem["detail"]
    assert all(c.model != "flux-dev" for c in plan(quality="standard", ratio=1.0, provider="wavespeed"))


def test_an_init_image_too_small_for_the_providers_is_refused(create_stack: CreateStack) -> None:
    refused(create_stack, {"prompt": "a fox", "init_image": upload(create_stack, 60, 60)}, "init_image")


# --- selection -----------------------------------------------------------------------------------


def test_auto_keeps_only_models_that_take_an_init_image() -> None:
    capable = {(info.provider, info.model) for info in CATALOGUE if info.image_to_image}
    for quality in ("draft", "standard", "premium"):
        picked = plan(quality=quality, ratio=1.5, image_to_image=True)
        assert picked and {(c.provider, c.model) for c in picked} <= capable
    # standard's Stability row is core, which takes no image: the nearest model that does serves
    [standard] = plan(quality="standard", ratio=1.0, image_to_image=True, provider="stability")
    assert (standard.provider, standard.model) == ("stability", "sd3.5-medium")
    # auto: one capable model per provider that has one, cheapest first at the same quality
    ranked = [(c.provider, c.model) for c in plan(quality="standard", ratio=1.0, image_to_image=True)]
    assert ranked == [
        ("wavespeed", "flux-dev"),
        ("stability", "sd3.5-medium"),
        ("gemini", "gemini-3.1-flash-image"),
    ]
    assert plan(quality="standard", ratio=1.0)[0].model == "core"  # text-to-image is unchanged


def test_auto_without_a_capable_provider_names_init_image() -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan(quality="standard", ratio=1.0, image_to_image=True, allowed=("huggingface",))
    assert caught.value.field == "init_image"


# --- jobs ------------------------------------------------------------------------------------------


def test_an_image_to_image_batch_is_made_from_the_init_image_with_strength_zero_honoured(
    create_stack: CreateStack,
) -> None:
    balance = create_stack.get("/credits").json()["balance"]
    job = create_stack.run(
        {
            "prompt": "a fox in the snow",
            "init_image": upload(create_stack, 480, 320),
            "strength": 0.0,
            "count": 3,
            "template_id": "instagram_feed_square",
            "quality": "standard",
            "provider": "stability",
        }
    )
    assert job["status"] == "succeeded", job
    params = job["params"]
    assert params["init_image"] is True and params["strength"] == 0.0 and params["init_size"] == [480, 320]
    assert (params["width"], params["height"]) == (1080, 1080)  # the template's size still applies
    assert [c["model"] for c in params["candidates"]] == ["sd3.5-medium"]
    assert len(job["outputs"]) == 3
    for output in job["outputs"]:
        assert output["metadata"]["image_to_image"] is True and output["metadata"]["strength"] == 0.0
        assert output["metadata"]["simulated"] is True
    assert create_stack.sims["stability"].calls.count("/generate/sd3") == 3
    after = create_stack.get("/credits").json()
    assert after["balance"] == balance - 3 * 4 and after["reserved"] == 0  # sd3.5-medium: 3.5 -> 4 each


def test_an_init_image_sent_as_a_file_keeps_its_shape(create_stack: CreateStack) -> None:
    response = create_stack.embedded.client.post(
        f"{API}/create",
        headers=create_stack.headers(),
        data={"prompt": "a harbour", "strength": "0.6", "provider": "stability"},
        files={"init_image": ("in.png", make_image(600, 400), "image/png")},
    )
    assert response.status_code == 202, response.text
    job = create_stack.embedded.wait_job(create_stack.key, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["params"]["aspect_ratio"] == "3:2" and job["params"]["strength"] == 0.6
    [output] = job["outputs"]
    image = Image.open(io.BytesIO(create_stack.embedded.client.get(output["url"]).content))
    assert abs(image.width / image.height - 1.5) < 0.01


def test_a_content_filter_refusal_fails_the_image_to_image_job_at_once(create_stack: CreateStack) -> None:
    stability = create_stack.sims["stability"]
    init = upload(create_stack)
    stability.faults.push({"content_filter": True, "path": "/generate/"})
    body = {
        "prompt": "something unsafe",
        "init_image": init,
        "strength": 0.5,
        "count": 2,
        "provider": "stability",
    }
    job = create_stack.run(body)
    assert job["status"] == "failed"
    assert job["attempts"] == 1 and stability.calls.count("/generate/") == 1
    assert job["error"]["type"].endswith("/content-filtered") and job["error"]["provider"] == "stability"
    assert job["outputs"] == []
    assert create_stack.get("/credits").json()["reserved"] == 0


# --- other providers, fallback, shapes -------------------------------------------------------------


def test_auto_falls_back_from_a_failing_stability_to_the_next_image_to_image_provider(
    create_stack: CreateStack,
) -> None:
    stability = create_stack.sims["stability"]
    stability.faults.push(*[{"status": 503, "path": "/generate/"}] * 3)
    create_stack.sims["gemini"].faults.push(*[{"status": 503, "path": ":generateContent"}] * 3)
    init = upload(create_stack, 480, 320)
    job = create_stack.run(
        {"prompt": "a fox", "init_image": init, "strength": 0.0, "count": 2, "quality": "premium"}
    )
    assert job["status"] == "succeeded", job
    planned = [(c["provider"], c["model"]) for c in job["params"]["candidates"]]
    assert planned[:3] == [
        ("stability", "ultra"),
        ("gemini", "gemini-3-pro-image"),
        ("wavespeed", "flux-dev"),
    ]
    assert stability.calls.count("/generate/") == 3  # the configured attempts, then give up
    assert create_stack.sims["wavespeed"].calls.count("/api/v3/wavespeed-ai/flux-dev") == 2
    for output in job["outputs"]:
        meta = output["metadata"]
        assert (meta["provider"], meta["model"]) == ("wavespeed", "flux-dev"), meta
        assert [step["provider"] for step in meta["fallback_from"]] == [
            "stability",
            "gemini",
        ] and "503" in meta["fallback_from"][0]["reason"]
        assert meta["strength"] == 0.0 and meta["not_applied"] == [] and meta["simulated"] is True
        assert abs(output["width"] / output["height"] - 1.5) < 0.01


def test_an_open_stability_circuit_sends_image_to_image_to_gemini_which_takes_no_strength(
    create_stack: CreateStack,
) -> None:
    from imagestudio.providers.health import breaker_for

    for provider in ("stability", "wavespeed"):
        breaker = breaker_for(provider)
        while breaker.health()["state"] != "open":
            breaker.record_failure()
    init = upload(create_stack, 480, 320)
    job = create_stack.run({"prompt": "a fox", "init_image": init, "strength": 0.7, "quality": "premium"})
    assert job["status"] == "succeeded", job
    assert create_stack.sims["stability"].calls.count("/generate/") == 0  # skipped, not called
    [output] = job["outputs"]
    meta = output["metadata"]
    assert (meta["provider"], meta["model"]) == ("gemini", "gemini-3-pro-image"), meta
    assert meta["image_to_image"] is True and meta["strength"] is None and meta["not_applied"] == ["strength"]
    assert job["params"]["strength"] == 0.7  # asked, kept in the job; only the output says it was not applied
    assert create_stack.sims["gemini"].calls.count(":generateContent") == 1


@pytest.mark.parametrize(("width", "height"), [(1200, 300), (200, 1000)])
def test_a_very_wide_or_tall_init_image_keeps_its_shape_on_sd3(
    create_stack: CreateStack, width: int, height: int
) -> None:
    init = upload(create_stack, width, height)
    job = create_stack.run({"prompt": "a fox", "init_image": init, "strength": 0.4, "provider": "stability"})
    assert job["status"] == "succeeded", job
    [candidate] = job["params"]["candidates"]
    assert (
        candidate["model"].startswith("sd3.5") and candidate["keep_shape"] is True and candidate["crop"] == 0
    )
    [output] = job["outputs"]
    assert abs((output["width"] / output["height"]) / (width / height) - 1) < 0.03
    # an aspect the request names is still held to the usual limit (Stability's widest is 21:9)
    named = {
        "prompt": "a fox",
        "init_image": init,
        "aspect_ratio": f"{width}:{height}",
        "provider": "stability",
    }
    response = create_stack.post(named)
    assert response.status_code == 422 and response.json()["field"] == "aspect_ratio", response.text


def test_wide_init_image_shape_check_happens_in_planning() -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan(quality="standard", ratio=4.0, provider="stability", image_to_image=True)
    assert caught.value.field == "aspect_ratio"
    [kept] = plan(quality="standard", ratio=4.0, provider="stability", image_to_image=True, init_shape=True)
    assert kept.keep_shape and kept.provider_aspect_ratio is None


def test_the_provider_catalogue_says_which_models_take_an_init_image_and_a_strength(
    create_stack: CreateStack,
) -> None:
    body = create_stack.get("/providers", kind="generate").json()
    models = {(p["name"], m["model"]): m for p in body["providers"] for m in p["models"]}
    flash = models[("gemini", "gemini-3.1-flash-image")]
    assert flash["image_to_image"] and not flash["image_strength"] and flash["text_to_image"]
    assert flash["capabilities"] == ["text-to-image", "image-to-image"]
    assert ("gemini", "gemini-2.5-flash-image") not in models  # shut down on 2026-10-02
    assert not any(model.startswith("imagen") for _, model in models)
    flux = models[("wavespeed", "flux-dev")]
    assert flux["image_to_image"] and flux["image_strength"] and flux["credits_per_image"] == 1.2
    assert (
        models[("stability", "sd3.5-medium")]["image_strength"]
        and models[("stability", "core")]["text_to_image"]
    )
    assert not models[("stability", "core")]["image_to_image"]
