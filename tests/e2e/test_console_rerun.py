"""Run again, in headless Chromium, for jobs another client sent (the API, as the SDK or curl would).

This browser never sent them, so the console rebuilds each request from the job's params as
``GET /jobs/{id}`` answers them and copies its images into uploads on the server
(``POST /uploads {"job_id", "field"}``): the new job must succeed with the same params.
"""

from __future__ import annotations

from typing import Any

import pytest
from console_support import Console, run_again
from selenium import webdriver
from support import make_image, wait_for

#: Params every studio works out afresh (prices, routes planned): not what was asked.
DERIVED = {"estimated_credits", "routes", "skipped", "candidates"}


def upload(console: Console, name: str, **image: Any) -> str:
    made = console.api("POST", "/uploads", files={"file": (name, make_image(**image), "image/png")})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def ended(console: Console, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        fresh: dict[str, Any] = console.api("GET", f"/jobs/{job_id}").json()
        return fresh if fresh["status"] in ("succeeded", "failed", "canceled", "expired") else None

    job: dict[str, Any] = wait_for(done, timeout=90, interval=0.2, what=f"job {job_id} to end")
    return job


def requests(console: Console) -> dict[str, tuple[str, dict[str, Any]]]:
    """One request per studio (and convert), as another client sends it."""
    photo = upload(console, "harbour.png", width=640, height=480)
    mask = upload(console, "mask.png", width=640, height=480)
    return {
        "create": ("/create", {"prompt": "a red bicycle by the sea", "count": 1, "quality": "draft"}),
        "edit": (
            "/edit",
            {"operation": "inpaint", "image": photo, "mask": mask, "prompt": "a vase", "path": "local"},
        ),
        "upscale": ("/upscale", {"image": photo, "mode": "fast", "path": "local"}),
        "social": (
            "/social/optimize",
            {
                "image": photo,
                "formats": ["instagram.story", {"name": "banner", "width": 1200, "height": 400}],
                "focal_x": 0.3,
                "focal_y": 0.5,
                "crops": {"instagram.story": {"x": 10, "y": 0, "width": 270, "height": 480}},
                "zip": False,
            },
        ),
        "control": (
            "/control",
            {"operation": "sketch", "image": photo, "prompt": "a barn", "control_strength": 0.4},
        ),
        "compress": ("/compress", {"image": photo, "format": "jpeg", "target_kb": 30}),
        "convert": ("/convert", {"image": photo, "format": "png"}),
    }


@pytest.mark.parametrize("studio", ["create", "edit", "upscale", "social", "control", "compress", "convert"])
def test_run_again_rebuilds_a_job_another_client_sent(
    browser: webdriver.Chrome, console: Console, studio: str
) -> None:
    path, body = requests(console)[studio]
    sent = console.api("POST", path, json=body)
    assert sent.status_code == 202, sent.text
    first = ended(console, sent.json()["id"])
    assert first["status"] == "succeeded", first

    again_id = run_again(browser, console, first["id"])
    again = ended(console, again_id)
    assert again["status"] == "succeeded", again
    assert again["studio"] == first["studio"]
    kept = {k: v for k, v in first["params"].items() if k not in DERIVED}
    assert {k: v for k, v in again["params"].items() if k not in DERIVED} == kept
    assert [o["name"] for o in again["outputs"]] == [o["name"] for o in first["outputs"]]
    # The image is the job's own, copied on the server (named as it was), never sent from the browser.
    assert again["source_names"] == first["source_names"]
