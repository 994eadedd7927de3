"""``POST /estimate-cost`` reads a studio's params through the studio's own request model: the fields
the route takes, refused as the route refuses them (the images are not needed to price a job)."""

from __future__ import annotations

from typing import Any

import pytest
from edit_support import API, Studio

#: Each studio's submission route.
ROUTES = {"edit": "edit", "upscale": "upscale", "control": "control", "social": "social/optimize"}
#: A studio, params its route refuses before anything is stored, and the field the refusal names.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("edit", {"operation": "inpaint", "prompt": "a cat", "seed": -1}, "seed"),
    ("edit", {"operation": "inpaint", "prompt": "x" * 10_001}, "prompt"),
    ("edit", {"operation": "remove_background", "colour": "red"}, "colour"),
    ("upscale", {"mode": "conservative", "creativity": 0.9}, "creativity"),
    ("upscale", {"mode": "huge"}, "mode"),
    ("control", {"operation": "sketch", "prompt": "a barn", "control_strength": 1.5}, "control_strength"),
    ("control", {"operation": "sketch", "prompt": "a barn", "strength": 0.5}, "strength"),
    ("social", {"formats": ["instagram.story"], "quality": 0}, "quality"),
    ("social", {"formats": ["instagram.story"], "crop": "smart"}, "crop"),
]


@pytest.mark.parametrize(("studio_name", "params", "field"), REFUSED, ids=[f"{s}-{f}" for s, _, f in REFUSED])
def test_the_estimate_refuses_what_the_route_refuses(
    studio: Studio, studio_name: str, params: dict[str, Any], field: str
) -> None:
    estimate = studio.embedded.client.post(
        f"{API}/estimate-cost", json={"studio": studio_name, "params": params}, headers=studio.headers()
    )
    assert estimate.status_code == 422, estimate.text
    assert estimate.json()["field"] == f"params.{field}"
    submitted = studio.embedded.client.post(
        f"{API}/{ROUTES[studio_name]}", json={**params, "image": "upl_unknown"}, headers=studio.headers()
    )
    assert submitted.status_code == 422, submitted.text
    assert submitted.json()["field"] == field


@pytest.mark.parametrize(
    ("studio_name", "params"),
    [
        ("edit", {"operation": "outpaint", "left": 32, "seed": 7, "path": "local"}),
        ("upscale", {"mode": "conservative", "creativity": 0.3, "preset": "faithful"}),
        ("control", {"operation": "style", "prompt": "a fox", "fidelity": 0.0, "aspect_ratio": "16:9"}),
        ("social", {"platforms": "youtube", "crop_mode": "fit", "background": "#102030"}),
    ],
)
def test_the_estimate_prices_every_field_the_route_takes(
    studio: Studio, studio_name: str, params: dict[str, Any]
) -> None:
    estimate = studio.embedded.client.post(
        f"{API}/estimate-cost", json={"studio": studio_name, "params": params}, headers=studio.headers()
    )
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["studio"] == studio_name
