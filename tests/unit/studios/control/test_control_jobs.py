"""Control jobs through the embedded broker and worker: every operation on the simulators, bounds, maps, faults."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from edit_support import Studio, decode, output_bytes, png
from PIL import Image, ImageDraw

#: One request per operation, with the images it takes.
REQUESTS: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "sketch": ({"prompt": "a lighthouse at dusk", "control_strength": 0.6}, {"image": b""}),
    "structure": ({"prompt": "a glass house", "control_strength": 0.8}, {"image": b""}),
    "style": ({"prompt": "a fox in a forest", "fidelity": 0.4, "aspect_ratio": "16:9"}, {"image": b""}),
    "style_transfer": ({"style_strength": 0.7}, {"image": b"", "style_image": b""}),
}
#: What each operation captures on Stability (its published credits per call).
STABILITY_CREDITS = {"sketch": 5, "structure": 5, "style": 5, "style_transfer": 8}


def drawing(width: int = 320, height: int = 256) -> bytes:
    """Dark pen lines on off-white paper with a few specks of dust (a phone photo of a sketch)."""
    image = Image.new("RGB", (width, height), (242, 240, 232))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 50, 260, 200), outline=(30, 30, 30), width=3)
    draw.line((60, 50, 160, 10), fill=(30, 30, 30), width=3)
    draw.line((160, 10, 260, 50), fill=(30, 30, 30), width=3)
    for x, y in ((15, 220), (300, 20), (290, 240)):
        draw.point((x, y), fill=(60, 60, 60))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def files_for(operation: str) -> dict[str, bytes]:
    _, files = REQUESTS[operation]
    made = {"image": drawing() if operation == "sketch" else png()}
    if "style_image" in files:
        made["style_image"] = png(256, 256)
    return made


@pytest.mark.parametrize("operation", sorted(REQUESTS))
def test_every_operation_runs_on_stability(studio: Studio, operation: str) -> None:
    data, _ = REQUESTS[operation]
    job = studio.run("control", {"operation": operation, **data}, files_for(operation))
    assert job["status"] == "succeeded", job
    outputs = {o["name"]: o for o in job["outputs"]}
    meta = outputs["controlled"]["metadata"]
    assert (meta["served_by"], meta["model"], meta["simulated"]) == (
        "stability",
        f"control/{operation.replace('_', '-')}",
        True,
    )
    assert meta["credits"] == STABILITY_CREDITS[operation] and meta["not_applied"] == []
    assert [r["provider"] for r in job["params"]["routes"]] == ["stability", "wavespeed"]
    assert studio.sims["stability"].calls.count(f"/control/{operation.replace('_', '-')}") == 1
    assert studio.sims["wavespeed"].calls.count("/api/v3/") == 0
    image = decode(output_bytes(studio, job, "controlled"))
    assert image.size == (outputs["controlled"]["width"], outputs["controlled"]["height"])
    if operation == "style":
        assert image.size == (1344, 768)  # the asked 16:9 at about 1 MP
    captured = studio.charged(job["id"])
    assert captured == STABILITY_CREDITS[operation]


@pytest.mark.parametrize("operation", ["sketch", "structure"])
def test_sketch_and_structure_store_the_control_map_the_provider_was_given(
    studio: Studio, operation: str
) -> None:
    job = studio.run("control", {"operation": operation, "prompt": "a cabin"}, {"image": drawing()})
    assert job["status"] == "succeeded", job
    outputs = {o["name"]: o for o in job["outputs"]}
    assert set(outputs) == {"controlled", "control_map"}
    control_map = outputs["control_map"]
    assert control_map["metadata"]["credits"] == 0 and control_map["metadata"]["path"] == "local"
    assert control_map["metadata"]["kind"] == ("line_art" if operation == "sketch" else "edges")
    pixels = np.asarray(decode(output_bytes(studio, job, "control_map")).convert("L"))
    assert pixels.shape == (256, 320)
    inside_frame = pixels[100:150, 100:220]  # flat paper inside the drawn rectangle
    border = pixels[48:53, 100:220]  # the rectangle's top edge
    if operation == "sketch":  # black lines on white: the frame is ink, the paper white
        assert (inside_frame == 255).all() and (border == 0).any()
    else:  # Canny: white edges on black
        assert (inside_frame == 0).all() and (border == 255).any()


@pytest.mark.parametrize("operation", ["style", "style_transfer"])
def test_style_operations_have_no_control_map(studio: Studio, operation: str) -> None:
    data, _ = REQUESTS[operation]
    job = studio.run("control", {"operation": operation, **data}, files_for(operation))
    assert [o["name"] for o in job["outputs"]] == ["controlled"]


def test_an_explicit_zero_strength_is_honoured_not_defaulted(studio: Studio) -> None:
    job = studio.run(
        "control",
        {"operation": "style_transfer", "style_strength": 0.0, "composition_fidelity": 0},
        files_for("style_transfer"),
    )
    assert job["status"] == "succeeded", job
    strengths = job["outputs"][0]["metadata"]["strengths"]
    assert strengths == {"style_strength": 0.0, "composition_fidelity": 0.0, "change_strength": 0.9}
    # The simulator blends the style in by style_strength: at 0.0 the init image comes back as it was.
    out = np.asarray(decode(output_bytes(studio, job, "controlled")).convert("RGB"), dtype=float)
    source = np.asarray(decode(files_for("style_transfer")["image"]).convert("RGB"), dtype=float)
    assert np.abs(out - source).mean() < 1.0


def test_defaults_fill_only_what_the_request_left_out(studio: Studio) -> None:
    job = studio.run("control", {"operation": "sketch", "prompt": "a cat"}, {"image": drawing()})
    assert job["params"]["strengths"] == {"control_strength": 0.7}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"operation": "sketch", "prompt": "x", "control_strength": 1.5}, "control_strength"),
        ({"operation": "sketch", "prompt": "x", "control_strength": -0.1}, "control_strength"),
        ({"operation": "style", "prompt": "x", "fidelity": 2}, "fidelity"),
        ({"operation": "style_transfer", "style_strength": 1.01}, "style_strength"),
        ({"operation": "style_transfer", "composition_fidelity": -1}, "composition_fidelity"),
        (
            {"operation": "style_transfer", "change_strength": 0.0},
            "change_strength",
        ),  # Stability's minimum is 0.1
        ({"operation": "sketch", "prompt": "x", "fidelity": 0.5}, "fidelity"),  # not sketch's
        ({"operation": "sketch"}, "prompt"),
        ({"operation": "style_transfer"}, "style_image"),
        ({"operation": "style", "prompt": "x", "aspect_ratio": "7:3"}, "aspect_ratio"),
    ],
)
def test_out_of_range_or_unused_inputs_are_refused_naming_the_field(
    studio: Studio, data: dict[str, Any], field: str
) -> None:
    files = {"image": png()}
    response = studio.post("control", data, files)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in problem["detail"] or problem.get("field") == field or field in str(problem.get("errors"))
    studio.nothing_stored()


def test_json_body_with_upload_ids_and_a_bad_strength(studio: Studio) -> None:
    upload = studio.upload(drawing(), "d.png")
    bad = studio.embedded.client.post(
        "/api/image-studio/control",
        json={"operation": "sketch", "image": upload, "prompt": "x", "control_strength": 3},
        headers=studio.headers(),
    )
    assert bad.status_code == 422 and "control_strength" in bad.text
    good = studio.embedded.client.post(
        "/api/image-studio/control",
        json={"operation": "sketch", "image": upload, "prompt": "a barn", "control_strength": 0.0},
        headers=studio.headers(),
    )
    assert good.status_code == 202, good.text
    job = studio.embedded.wait_job(studio.key, good.json()["id"])
    assert job["status"] == "succeeded" and job["params"]["strengths"] == {"control_strength": 0.0}


def test_without_a_provider_a_control_job_is_refused_before_anything_is_stored(bare_studio: Studio) -> None:
    response = bare_studio.post("control", {"operation": "sketch", "prompt": "a cat"}, {"image": drawing()})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "provider" in problem["detail"] and "locally" in problem["detail"]
    bare_studio.nothing_stored()
    catalogue = bare_studio.get("/control/operations").json()
    assert not any(op["available"] for op in catalogue["operations"])


def test_a_failing_stability_falls_back_to_wavespeed_and_says_which_served(studio: Studio) -> None:
    stability = studio.sims["stability"]
    stability.faults.push(*[{"status": 503, "path": "/control/style-transfer"}] * 2)
    job = studio.run(
        "control", {"operation": "style_transfer", "style_strength": 0.5}, files_for("style_transfer")
    )
    assert job["status"] == "succeeded", job
    meta = job["outputs"][0]["metadata"]
    assert (meta["served_by"], meta["model"], meta["credits"]) == ("wavespeed", "seedream-v4.5-edit", 4)
    assert meta["not_applied"] == ["change_strength", "composition_fidelity", "style_strength"]
    [step] = meta["fallback_from"]
    assert step["provider"] == "stability" and "503" in step["reason"]
    assert stability.calls.count("/control/style-transfer") == 2  # both attempts, then WaveSpeed
    captured = studio.charged(job["id"])
    assert captured == 4 and job["params"]["estimated_credits"] == 8  # held the dearest, charged what served


def test_an_open_stability_circuit_puts_wavespeed_first(studio: Studio) -> None:
    from imagestudio.studios import control
    from imagestudio.studios.common.routes import ProviderStatus

    def status(name: str) -> ProviderStatus:
        return ProviderStatus(configured=True, healthy=name != "stability")

    routes, skipped = control._plan(
        control.OPERATIONS["sketch"], provider="auto", allowed={"stability", "wavespeed"}, status=status
    )
    assert [r.provider for r in routes] == ["wavespeed", "stability"] and skipped == []


def test_a_tier_without_wavespeed_plans_stability_alone(studio: Studio) -> None:
    key = studio.embedded.new_key(tier="basic")
    job = studio.run("control", {"operation": "sketch", "prompt": "a boat"}, {"image": drawing()}, key=key)
    assert [r["provider"] for r in job["params"]["routes"]] == ["stability"]
    assert job["params"]["skipped"][0]["reason"] == "not included in the tenant's tier"


def test_the_free_tier_does_not_include_control(studio: Studio) -> None:
    key = studio.embedded.new_key(tier="free")
    response = studio.post(
        "control", {"operation": "sketch", "prompt": "a boat"}, {"image": drawing()}, key=key
    )
    assert response.status_code == 403 and "control studio" in response.json()["detail"]


def test_content_filter_fails_the_job_fast_with_its_reason_and_no_fallback(studio: Studio) -> None:
    studio.sims["stability"].faults.push({"status": 403, "path": "/control/sketch", "message": "nsfw prompt"})
    job = studio.run("control", {"operation": "sketch", "prompt": "x"}, {"image": drawing()})
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["type"].endswith("/content-filtered") and "nsfw prompt" in job["error"]["detail"]
    assert studio.sims["wavespeed"].calls.count("/api/v3/") == 0 and job["outputs"] == []


def test_a_moderation_refusal_fails_the_job_too(studio: Studio) -> None:
    studio.sims["stability"].faults.push({"content_filter": True, "path": "/control/structure"})
    job = studio.run("control", {"operation": "structure", "prompt": "x"}, {"image": png()})
    assert job["status"] == "failed" and "content moderation" in job["error"]["detail"]


def test_a_blurred_content_filtered_output_is_delivered_marked_and_charged(studio: Studio) -> None:
    """Stability bills a CONTENT_FILTERED answer (the image blurred): a success, recorded as filtered."""
    studio.sims["stability"].faults.push({"finish_reason": "CONTENT_FILTERED", "path": "/control/structure"})
    job = studio.run("control", {"operation": "structure", "prompt": "x"}, {"image": png()})
    assert job["status"] == "succeeded", job
    [output] = [o for o in job["outputs"] if o["name"] == "controlled"]
    assert output["metadata"]["content_filtered"] is True
    captured = studio.charged(job["id"])
    assert captured == STABILITY_CREDITS["structure"]


def test_a_rate_limit_is_retried_after_its_retry_after(studio: Studio) -> None:
    studio.sims["stability"].faults.push({"status": 429, "retry_after": 0.05, "path": "/control/style"})
    job = studio.run("control", {"operation": "style", "prompt": "a fox"}, {"image": png()})
    assert job["status"] == "succeeded", job
    assert job["outputs"][0]["metadata"]["attempts"] == 2


def test_an_image_outside_stabilitys_aspect_goes_to_wavespeed_in_auto(studio: Studio) -> None:
    job = studio.run("control", {"operation": "style", "prompt": "a fox"}, {"image": png(700, 256)})
    assert job["status"] == "succeeded", job
    assert [r["provider"] for r in job["params"]["routes"]] == ["wavespeed"]
    assert "aspect ratio" in job["params"]["skipped"][0]["reason"]
    refused = studio.post(
        "control",
        {"operation": "style", "prompt": "a fox", "provider": "stability"},
        {"image": png(700, 256)},
    )
    assert refused.status_code == 422 and "aspect ratio" in refused.json()["detail"]


def test_the_catalogue_describes_fields_defaults_bounds_and_images(studio: Studio) -> None:
    catalogue = studio.get("/control/operations").json()
    operations = {op["id"]: op for op in catalogue["operations"]}
    assert sorted(operations) == ["sketch", "structure", "style", "style_transfer"]
    assert operations["style_transfer"]["images"] == ["image", "style_image"]
    assert operations["sketch"]["defaults"] == {"control_strength": 0.7}
    strength = operations["sketch"]["inputs"]["control_strength"]
    assert (strength["minimum"], strength["maximum"]) == (0, 1)
    assert operations["style_transfer"]["inputs"]["change_strength"]["minimum"] == 0.1
    assert operations["structure"]["control_map"] == "edges"
    assert [p["name"] for p in operations["style"]["providers"]] == ["stability", "wavespeed"]
    assert operations["style"]["providers"][0]["credits"] == 5 and operations["style"]["available"]


def test_the_estimate_equals_what_the_job_captures(studio: Studio) -> None:
    estimate = studio.estimate("control", {"operation": "style_transfer"}).json()
    assert (estimate["total_credits"], estimate["max_credits"]) == (8, 8)
    job = studio.run("control", {"operation": "style_transfer"}, files_for("style_transfer"))
    assert job["outputs"][0]["metadata"]["credits"] == estimate["total_credits"]
    assert job["params"]["estimated_credits"] == estimate["max_credits"]


def test_a_batch_of_control_jobs_answers_each_entry(studio: Studio) -> None:
    upload = studio.upload(drawing(), "d.png")
    response = studio.embedded.client.post(
        "/api/image-studio/jobs/batch",
        json={
            "jobs": [
                {"studio": "control", "params": {"operation": "sketch", "image": upload, "prompt": "a mill"}},
                {
                    "studio": "control",
                    "params": {"operation": "structure", "image": upload, "prompt": "a tower"},
                },
                {
                    "studio": "control",
                    "params": {"operation": "sketch", "image": upload, "control_strength": 9},
                },
            ]
        },
        headers=studio.headers(),
    )
    assert response.status_code == 207 or response.status_code == 200, response.text
    entries = response.json()["jobs"]
    assert [e["status"] for e in entries] == [202, 202, 422]
    for entry in entries[:2]:
        assert studio.embedded.wait_job(studio.key, entry["job"]["id"])["status"] == "succeeded"
