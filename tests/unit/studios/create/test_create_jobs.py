"""Create jobs through the embedded stack: templates, quality, batches, partial success, fallback, refusals."""

from __future__ import annotations

import io
import math
from typing import Any

from create_support import CreateStack
from PIL import Image


def outputs(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {output["name"]: output for output in job["outputs"]}


def download(stack: CreateStack, output: dict[str, Any]) -> Image.Image:
    response = stack.embedded.client.get(output["url"])
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def test_template_fills_exact_size_style_and_quality(create_stack: CreateStack) -> None:
    job = create_stack.run({"prompt": "a coffee cup on a desk", "template_id": "facebook_cover"})
    assert job["status"] == "succeeded", job
    params = job["params"]
    assert (params["width"], params["height"]) == (820, 312)
    assert params["aspect_ratio"] == "2.63:1"  # the seed labelled it 16:9
    assert params["style_preset"] == "photographic"
    assert params["quality"] == "premium" and params["quality_source"] == "template"
    # The template suggests stability first; premium on stability is ultra.
    assert (params["candidates"][0]["provider"], params["candidates"][0]["model"]) == ("stability", "ultra")
    [image] = job["outputs"]
    assert (image["width"], image["height"]) == (820, 312)
    assert download(create_stack, image).size == (820, 312)
    assert image["metadata"]["resized"] is True and image["metadata"]["provider_size"] != [820, 312]


def test_explicit_quality_wins_over_the_template(create_stack: CreateStack) -> None:
    """The seed only let a template override quality when the request said "standard"."""
    job = create_stack.submit(
        {"prompt": "a fox", "template_id": "instagram_feed_square", "quality": "standard"}
    )
    assert job["params"]["quality"] == "standard" and job["params"]["quality_source"] == "request"
    assert job["params"]["candidates"][0]["quality"] == "standard"


def test_explicit_size_overrides_the_template(create_stack: CreateStack) -> None:
    job = create_stack.submit(
        {"prompt": "a fox", "template_id": "instagram_story", "width": 1200, "height": 1200}
    )
    assert (job["params"]["width"], job["params"]["height"], job["params"]["aspect_ratio"]) == (
        1200,
        1200,
        "1:1",
    )
    job = create_stack.submit({"prompt": "a fox", "template_id": "instagram_story", "width": 540})
    assert (job["params"]["width"], job["params"]["height"]) == (540, 960)


def test_aspect_ratio_alone_keeps_the_provider_size_cropped_to_the_exact_ratio(
    create_stack: CreateStack,
) -> None:
    job = create_stack.run(
        {"prompt": "a harbour", "aspect_ratio": "1.91:1", "provider": "gemini", "output_format": "jpeg"}
    )
    assert job["status"] == "succeeded", job
    [image] = job["outputs"]
    assert image["format"] == "jpeg" and image["content_type"] == "image/jpeg"
    assert abs(image["width"] / image["height"] - 1.91) < 0.01
    assert download(create_stack, image).format == "JPEG"


def test_enhancement_is_stored_with_reasons(create_stack: CreateStack) -> None:
    job = create_stack.run(
        {
            "prompt": "a lighthouse",
            "template_id": "youtube_thumbnail",
            "style_preset": "comic-book",
            "enhance_prompt": True,
        }
    )
    params = job["params"]
    assert params["prompt_original"] == "a lighthouse"
    assert params["prompt"].startswith("a lighthouse, comic book style")
    assert params["enhancement"]["enhanced_prompt"] == params["prompt"]
    sources = {a["source"]: a for a in params["enhancement"]["additions"]}
    assert set(sources) == {"style", "template", "quality", "baseline"}
    assert "YouTube Thumbnail" in sources["template"]["reason"]
    assert sources["baseline"]["target"] == "negative_prompt" and "blurry" in params["negative_prompt"]
    assert outputs(job)["image-01"]["metadata"]["prompt"].startswith(params["prompt"])


def test_style_reaches_models_without_presets_as_words(create_stack: CreateStack) -> None:
    job = create_stack.run({"prompt": "a lighthouse", "style_preset": "pixel-art", "provider": "huggingface"})
    assert job["params"]["prompt"] == "a lighthouse"  # no enhancement asked for
    assert outputs(job)["image-01"]["metadata"]["prompt"] == "a lighthouse, pixel art, limited palette"


def test_persona_is_applied_to_prompt_and_negative_prompt(create_stack: CreateStack) -> None:
    persona = create_stack.embedded.client.post(
        "/api/image-studio/personas",
        json={
            "name": "Acme Outdoors",
            "tone": "warm, optimistic",
            "palette": ["#1E6B52", "sand"],
            "style_keywords": ["natural light"],
            "avoid": ["smoking", "alcohol"],
        },
        headers=create_stack.headers(),
    ).json()
    job = create_stack.run(
        {"prompt": "friends with a beer on a hike", "persona_id": persona["id"], "provider": "stability"}
    )
    params = job["params"]
    assert params["prompt"] == (
        "friends with a beer on a hike, warm, optimistic mood, colour palette of #1e6b52 and sand, natural light"
    )
    assert params["negative_prompt"] == "smoking, alcohol"
    reasons = [a["reason"] for a in params["enhancement"]["additions"]]
    assert all("persona 'Acme Outdoors'" in reason for reason in reasons) and len(reasons) == 4
    assert outputs(job)["image-01"]["metadata"]["negative_prompt"] == "smoking, alcohol"


def test_batch_is_split_by_the_models_max_images_per_call(create_stack: CreateStack) -> None:
    gemini = create_stack.sims["gemini"]
    job = create_stack.run({"prompt": "a lighthouse", "provider": "gemini", "count": 6})
    assert job["status"] == "succeeded", job
    assert gemini.calls.count(":generateContent", method="POST") == 6  # Gemini's image models: one per call
    assert sorted(outputs(job)) == [f"image-0{i}" for i in range(1, 7)]
    assert job["params"]["results"]["succeeded"] == 6


def test_each_output_records_seed_provider_simulated_and_cost(create_stack: CreateStack) -> None:
    job = create_stack.run(
        {"prompt": "a lighthouse", "provider": "huggingface", "count": 3, "seed": 42, "quality": "draft"}
    )
    for index, name in enumerate(["image-01", "image-02", "image-03"]):
        metadata = outputs(job)[name]["metadata"]
        assert metadata["seed"] == 42 + index
        assert (
            metadata["provider"] == "huggingface" and metadata["model"] == "black-forest-labs/FLUX.1-schnell"
        )
        assert metadata["simulated"] is True
        assert metadata["credits"] == 1
    assert job["params"]["results"]["credits"] == 3
    # The same seed gives the same pixels: the simulator renders deterministically.
    again = create_stack.run(
        {"prompt": "a lighthouse", "provider": "huggingface", "seed": 42, "quality": "draft"}
    )
    first = create_stack.embedded.client.get(outputs(job)["image-01"]["url"]).content
    assert create_stack.embedded.client.get(outputs(again)["image-01"]["url"]).content == first


def test_only_made_images_are_charged(create_stack: CreateStack) -> None:
    stability = create_stack.sims["stability"]
    stability.faults.push({}, {"content_filter": True, "path": "/generate/"})  # image 2 refused
    balance = create_stack.get("/credits").json()
    job = create_stack.run({"prompt": "a lighthouse", "provider": "stability", "count": 3})
    assert job["status"] == "succeeded", job
    results = job["params"]["results"]
    assert (results["succeeded"], results["failed"]) == (1, 2)
    failed = [v for v in results["variations"] if v["status"] == "failed"]
    assert [v["variation"] for v in failed] == [2, 3]
    assert failed[0]["error"]["title"] == "Content filtered" and failed[0]["error"]["provider"] == "stability"
    # The refusal stops the batch: no more calls after it.
    assert stability.calls.count("/generate/") == 2
    after = create_stack.get("/credits").json()
    assert after["balance"] == balance["balance"] - 3 and after["reserved"] == 0


def test_content_filter_on_the_first_image_fails_the_job_at_once(create_stack: CreateStack) -> None:
    hf = create_stack.sims["huggingface"]
    hf.faults.push({"content_filter": True})
    job = create_stack.run({"prompt": "something unsafe", "provider": "huggingface", "count": 4})
    assert job["status"] == "failed"
    assert job["attempts"] == 1 and hf.calls.count("/fal-ai/") == 1
    assert job["error"]["type"].endswith("/content-filtered")
    assert "content safety filter" in job["error"]["detail"] and job["error"]["provider"] == "huggingface"
    assert job["outputs"] == []


def test_transient_errors_retry_then_auto_falls_back_and_records_it(create_stack: CreateStack) -> None:
    stability = create_stack.sims["stability"]
    stability.faults.push(*[{"status": 503, "path": "/generate/"}] * 3)
    job = create_stack.run({"prompt": "a lighthouse", "count": 2})
    assert job["status"] == "succeeded", job
    assert stability.calls.count("/generate/") == 3  # the configured attempts, then give up
    [fallback] = job["params"]["results"]["fallbacks"]
    assert fallback["provider"] == "stability" and "503" in fallback["reason"]
    for output in job["outputs"]:
        assert output["metadata"]["provider"] == job["params"]["candidates"][1]["provider"]
        assert output["metadata"]["fallback_from"][0]["provider"] == "stability"


def test_rate_limit_is_retried_after_its_retry_after(create_stack: CreateStack) -> None:
    gemini = create_stack.sims["gemini"]
    gemini.faults.push({"status": 429, "retry_after": 0.05})
    job = create_stack.run({"prompt": "a lighthouse", "provider": "gemini"})
    assert job["status"] == "succeeded", job
    assert outputs(job)["image-01"]["metadata"]["attempts"] == 2
    assert gemini.calls.count(":generateContent") == 2


def test_wavespeed_prediction_is_polled_until_it_completes(create_stack: CreateStack) -> None:
    wavespeed = create_stack.sims["wavespeed"]
    wavespeed.faults.push({"stay_in_progress": 4, "path": "/api/v3/wavespeed-ai/"})
    job = create_stack.run({"prompt": "a lighthouse", "provider": "wavespeed"})
    assert job["status"] == "succeeded", job
    assert wavespeed.calls.count("/predictions/", method="GET") == 5
    metadata = outputs(job)["image-01"]["metadata"]
    assert metadata["provider"] == "wavespeed" and metadata["model"] == "qwen-image" and metadata["simulated"]


def test_providers_listing_shows_capabilities_costs_simulation_and_health(create_stack: CreateStack) -> None:
    create_stack.sims["gemini"].faults.push({"status": 503}, {"status": 503}, {"status": 503})
    job = create_stack.run({"prompt": "a lighthouse", "provider": "gemini"})
    # Three failed calls spent the first delivery; the broker's retry of the job then succeeded.
    assert job["status"] == "succeeded" and job["attempts"] == 2
    body = create_stack.get("/providers").json()
    by_name = {p["name"]: p for p in body["providers"]}
    assert set(by_name) == {"stability", "wavespeed", "huggingface", "gemini"}
    assert all(p["status"] == "simulated" and not p["configured"] for p in by_name.values())
    ultra = next(m for m in by_name["stability"]["models"] if m["model"] == "ultra")
    assert ultra["credits_per_image"] == 8 and "21:9" in ultra["aspect_ratios"]
    health = by_name["gemini"]["health"]
    assert (health["recent_calls"], health["recent_error_rate"], health["state"]) == (4, 0.75, "closed")
    assert body["quality_table"]["premium"]["wavespeed"]["model"] == "ideogram-v3-turbo"
    generate_only = create_stack.get("/providers", kind="generate").json()
    assert all(m["kind"] == "generate" for p in generate_only["providers"] for m in p["models"])


def test_estimate_matches_the_credits_reserved(create_stack: CreateStack) -> None:
    body = {"prompt": "a lighthouse", "count": 4, "quality": "premium"}
    estimate = create_stack.embedded.client.post(
        "/api/image-studio/estimate-cost",
        json={"studio": "create", "params": body},
        headers=create_stack.headers(),
    ).json()
    job = create_stack.submit(body)
    assert (
        estimate["max_credits"] == job["params"]["estimated_credits"] == 4 * 14
    )  # dearest fallback: gemini-3-pro-image (13.4)
    first = job["params"]["candidates"][0]
    assert estimate["total_credits"] == 4 * math.ceil(first["credits_per_image"]) < 4 * 14
    assert estimate["breakdown"][0]["provider"] == job["params"]["candidates"][0]["provider"]
    refused = create_stack.embedded.client.post(
        "/api/image-studio/estimate-cost",
        json={"studio": "create", "params": {"prompt": ""}},
        headers=create_stack.headers(),
    )
    assert refused.status_code == 422 and refused.json()["field"] == "params.prompt"


def test_estimate_equals_the_charge_when_the_planned_provider_serves(create_stack: CreateStack) -> None:
    body = {"prompt": "a lighthouse", "count": 3, "provider": "stability", "quality": "standard"}
    estimate = create_stack.embedded.client.post(
        "/api/image-studio/estimate-cost",
        json={"studio": "create", "params": body},
        headers=create_stack.headers(),
    ).json()["total_credits"]
    job = create_stack.submit(body)
    done = create_stack.embedded.wait_job(create_stack.key, job["id"])
    assert done["status"] == "succeeded", done
    entries = create_stack.embedded.client.get(
        "/api/image-studio/credits", params={"limit": 200}, headers=create_stack.headers()
    ).json()["entries"]
    captured = -sum(
        e["balance_delta"] for e in entries if e["job_id"] == job["id"] and e["kind"] == "capture"
    )
    assert estimate == 3 * 3 and captured == estimate  # Stability core: 3 credits an image


def test_a_blurred_content_filtered_image_is_delivered_reported_and_charged(
    create_stack: CreateStack,
) -> None:
    """Stability's ``finish-reason: CONTENT_FILTERED`` is a billed success: kept, marked, counted, charged."""
    stability = create_stack.sims["stability"]
    stability.faults.push({}, {"finish_reason": "CONTENT_FILTERED", "path": "/generate/"})
    balance = create_stack.get("/credits").json()
    job = create_stack.run({"prompt": "a lighthouse", "provider": "stability", "count": 2})
    assert job["status"] == "succeeded", job
    results = job["params"]["results"]
    assert (results["succeeded"], results["failed"], results["content_filtered"]) == (2, 0, 1)
    assert [v["content_filtered"] for v in results["variations"]] == [False, True]
    assert outputs(job)["image-02"]["metadata"]["content_filtered"] is True
    after = create_stack.get("/credits").json()
    assert after["balance"] == balance["balance"] - 2 * 3  # both images charged (core: 3 credits)
