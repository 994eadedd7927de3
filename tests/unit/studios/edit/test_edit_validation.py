"""POST /edit refusals (before anything is stored or queued), GET /edit/operations, and pricing."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from edit_support import Studio, mask_png, noise_png, open_circuit, png, product_png

from imagestudio.studios.edit.operations import OperationName


def refused(
    studio: Studio, data: dict[str, Any], files: dict[str, bytes], *, status: int, field: str
) -> dict[str, Any]:
    response = studio.post("edit", data, files)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    studio.nothing_stored()
    return body


@pytest.mark.parametrize(
    ("data", "files", "status", "field"),
    [
        # A mask must match the image exactly.
        (
            {"operation": "inpaint", "prompt": "a cat"},
            {"image": png(), "mask": mask_png(300, 256)},
            422,
            "mask",
        ),
        # Inpaint and erase need an area: a mask, or transparent pixels.
        ({"operation": "erase"}, {"image": png()}, 422, "mask"),
        # Stability's outpaint/search/relight take 1:2.5 to 2.5:1 only.
        ({"operation": "outpaint", "left": 64, "path": "provider"}, {"image": png(900, 300)}, 422, "image"),
        # Too small for Stability (64 px per side).
        ({"operation": "remove_background", "path": "provider"}, {"image": png(48, 300)}, 422, "image"),
        # Over remove-background's 4,194,304 pixels.
        ({"operation": "remove_background", "path": "provider"}, {"image": png(2100, 2100)}, 413, "image"),
        # Stability's grow_mask is 0-20: 21 was its 400 after the call (the studio allowed 100).
        (
            {"operation": "inpaint", "prompt": "x", "grow_mask": 21},
            {"image": png(), "mask": mask_png()},
            422,
            "grow_mask",
        ),
        # Margins: 0..2000 each, and at least one.
        ({"operation": "outpaint", "left": 2001}, {"image": png()}, 422, "left"),
        ({"operation": "outpaint", "left": 0}, {"image": png()}, 422, "left"),
        # An input the operation does not use is named, not silently dropped.
        (
            {"operation": "inpaint", "prompt": "x", "creativity": 0.5},
            {"image": png(), "mask": mask_png()},
            422,
            "creativity",
        ),
        ({"operation": "remove_background"}, {"image": png(), "mask": mask_png()}, 422, "mask"),
        # What the provider requires, on the provider path.
        ({"operation": "inpaint", "path": "provider"}, {"image": png(), "mask": mask_png()}, 422, "prompt"),
        ({"operation": "search_replace", "prompt": "a dog"}, {"image": png()}, 422, "search_prompt"),
        ({"operation": "replace_background_relight"}, {"image": png()}, 422, "background_reference"),
        # One seed range for every provider (WaveSpeed's 0..2**31 - 1), Stability's operations too.
        ({"operation": "erase", "path": "provider", "seed": 2**31}, {"image": png()}, 422, "seed"),
        # WaveSpeed: the model's longest side, its seed range, known models only.
        ({"operation": "general_edit", "prompt": "night"}, {"image": png(1600, 1000)}, 413, "image"),
        ({"operation": "general_edit", "prompt": "night", "seed": 2**31}, {"image": png()}, 422, "seed"),
        ({"operation": "general_edit", "prompt": "night", "model": "nope"}, {"image": png()}, 422, "model"),
        # No local path for search & replace.
        (
            {"operation": "search_replace", "prompt": "a", "search_prompt": "b", "path": "local"},
            {"image": png()},
            422,
            "path",
        ),
        # The local recolour needs a colour it can read.
        (
            {
                "operation": "search_recolor",
                "prompt": "make it nicer",
                "select_prompt": "ball",
                "path": "local",
            },
            {"image": png(), "mask": mask_png()},
            422,
            "prompt",
        ),
        ({"operation": "rotate"}, {"image": png()}, 422, "operation"),
        ({"operation": "erase"}, {"image": b"not an image", "mask": mask_png()}, 422, "image"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field_before_anything_is_stored(
    studio: Studio, data: dict[str, Any], files: dict[str, bytes], status: int, field: str
) -> None:
    refused(studio, data, files, status=status, field=field)


def test_a_provider_request_over_10_mib_is_a_413_naming_the_largest_upload(studio: Studio) -> None:
    big = noise_png(1900, 1900)  # about 10.8 MB: under the 25 MiB upload limit, over Stability's 10 MiB
    assert len(big) > 10 * 1024 * 1024
    body = refused(
        studio,
        {"operation": "erase", "path": "provider"},
        {"image": big, "mask": mask_png(1900, 1900)},
        status=413,
        field="image",
    )
    assert "10 MiB" in body["detail"]


def test_auto_without_any_provider_refuses_operations_that_have_no_local_path(local_studio: Studio) -> None:
    for data in (
        {"operation": "search_replace", "prompt": "a dog", "search_prompt": "the cat"},
        {"operation": "replace_background_relight", "prompt": "a beach"},
        {"operation": "general_edit", "prompt": "make it night"},
    ):
        body = refused(local_studio, data, {"image": png()}, status=422, field="path")
        assert "not configured" in body["detail"] and "no local path" in body["detail"]


def test_path_provider_without_a_configured_provider_is_refused(local_studio: Studio) -> None:
    body = refused(
        local_studio,
        {"operation": "erase", "path": "provider"},
        {"image": png(), "mask": mask_png()},
        status=422,
        field="path",
    )
    assert "IMAGESTUDIO_STABILITY_API_KEY" in body["detail"]


def test_a_tier_without_the_provider_is_refused_with_403(studio: Studio) -> None:
    basic = studio.embedded.new_key("basic tenant", tier="basic")  # no WaveSpeed on basic
    response = studio.post(
        "edit", {"operation": "general_edit", "prompt": "night"}, {"image": png()}, key=basic
    )
    assert response.status_code == 403, response.text
    assert response.json()["limit"] == "providers"
    studio.nothing_stored()


def test_inpaint_takes_the_area_from_the_images_transparency(studio: Studio) -> None:
    job = studio.submit(
        "edit", {"operation": "inpaint", "prompt": "grass"}, {"image": product_png(transparent_hole=True)}
    )
    assert job["params"]["area"] == "alpha"


def test_operations_list_inputs_limits_credits_and_paths(studio: Studio) -> None:
    body = studio.get("/edit/operations").json()
    ops = {op["id"]: op for op in body["operations"]}
    # Every operation the request model accepts, and no other (operations.toml holds the rows).
    assert sorted(ops) == sorted(get_args(OperationName))
    inpaint = ops["inpaint"]
    assert inpaint["required"] == ["image", "prompt"]
    assert {"mask", "grow_mask", "negative_prompt", "path"} <= set(inpaint["optional"])
    assert inpaint["inputs"]["grow_mask"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 20,  # Stability's range: 21-100 were its 400 after the call
        "description": inpaint["inputs"]["grow_mask"]["description"],
    }
    assert inpaint["provider"]["credits"] == 5 and inpaint["provider"]["configured"] is True
    assert inpaint["provider"]["simulated"] in (True, None)
    assert inpaint["provider"]["limits"]["max_pixels"] == 9_437_184
    assert inpaint["provider"]["limits"]["max_request_bytes"] == 10 * 1024 * 1024
    assert inpaint["local"]["available"] is True and inpaint["local"]["credits"] == 0
    assert ops["outpaint"]["provider"]["limits"]["aspect_ratio"] == "1:2.5 to 2.5:1"
    assert ops["remove_background"]["provider"]["limits"]["max_pixels"] == 4_194_304
    assert ops["search_replace"]["local"] == {"available": False}
    assert ops["search_replace"]["paths"] == ["auto", "provider"]
    relight = ops["replace_background_relight"]
    assert relight["provider"]["asynchronous"] is True and relight["provider"]["credits"] == 8
    general = ops["general_edit"]
    assert general["provider"]["name"] == "wavespeed"
    assert general["provider"]["credits_by_model"]["nano-banana-pro-edit-ultra"] == 15
    assert general["provider"]["model_limits"]["seedream-v4.5-edit"]["max_side"] == 4096


def test_operations_say_when_no_provider_is_configured(local_studio: Studio) -> None:
    ops = {op["id"]: op for op in local_studio.get("/edit/operations").json()["operations"]}
    assert ops["erase"]["provider"]["configured"] is False
    assert ops["erase"]["local"]["available"] is True


def test_the_estimate_and_the_reserve_agree(studio: Studio) -> None:
    estimate = studio.estimate("edit", {"operation": "outpaint"})
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["total_credits"] == 4
    job = studio.submit("edit", {"operation": "outpaint", "left": 32}, {"image": png()})
    assert job["params"]["estimated_credits"] == 4
    local = studio.estimate("edit", {"operation": "outpaint", "path": "local"})
    assert local.json()["total_credits"] == 0


def test_estimate_equals_the_charge_when_the_planned_provider_serves(studio: Studio) -> None:
    estimate = studio.estimate("edit", {"operation": "remove_background", "path": "provider"}).json()[
        "total_credits"
    ]
    job = studio.run("edit", {"operation": "remove_background", "path": "provider"}, {"image": png()})
    assert job["status"] == "succeeded", job
    assert estimate > 0 and studio.charged(job["id"]) == estimate


def test_estimate_follows_the_local_route_while_the_provider_circuit_is_open(studio: Studio) -> None:
    open_circuit("stability")
    estimate = studio.estimate("edit", {"operation": "remove_background"}).json()
    assert estimate["breakdown"][0]["provider"] == "local"
    job = studio.run("edit", {"operation": "remove_background"}, {"image": png()})
    assert job["status"] == "succeeded", job
    assert job["params"]["routes"][0]["provider"] == "local"
    assert estimate["total_credits"] == studio.charged(job["id"]) == 0
