"""A crop set by hand per format (``crops``): honoured by the plan and the render, refused when it cannot be.

The image is 1600x1200; ``instagram.story`` is 9:16 and ``linkedin.feed`` 1200x627.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image
from support import Embedded, accepted_id, make_image, post_social
from test_social_custom_formats import API, auth, upload

#: A 9:16 box well inside the 1600x1200 image, far from where a centre crop would sit.
STORY_BOX = {"x": 40, "y": 100, "width": 450, "height": 800}


def test_render_and_plan_use_the_crop_set_and_say_it_was_set_by_the_user(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    image = upload(embedded, key)
    body: dict[str, Any] = {
        "image": image,
        "formats": ["instagram.story", "linkedin.feed"],
        "crop_mode": "center",
        "crops": {"instagram.story": STORY_BOX},
        "zip": False,
    }
    rendered = embedded.client.post(f"{API}/social/optimize", headers=auth(key), json=body)
    assert rendered.status_code == 202, rendered.text
    job = embedded.wait_job(key, rendered.json()["id"])
    assert job["status"] == "succeeded", job
    outputs = {o["name"]: o for o in job["outputs"]}
    story, feed = outputs["instagram.story"], outputs["linkedin.feed"]
    assert story["metadata"]["crop_box"] == [40, 100, 450, 800]
    assert story["metadata"]["crop_set_by"] == "user"
    assert feed["metadata"]["crop_set_by"] == "studio"
    assert feed["metadata"]["crop_box"] != [40, 100, 450, 800]
    assert Image.open(io.BytesIO(embedded.client.get(story["url"]).content)).size == (1080, 1920)
    assert job["params"]["crops"] == {"instagram.story": [40, 100, 450, 800]}

    planned = embedded.client.post(
        f"{API}/social/plan", headers={**auth(key), "Prefer": "wait=60"}, json=body
    )
    assert planned.status_code == 200, planned.text
    entries = {e["format"]: e for e in planned.json()["outputs"][0]["metadata"]["formats"]}
    assert entries["instagram.story"]["crop_box"] == [40, 100, 450, 800]
    assert (entries["instagram.story"]["placed_on"], entries["instagram.story"]["crop_set_by"]) == (
        "user",
        "user",
    )
    assert entries["linkedin.feed"]["crop_box"] == feed["metadata"]["crop_box"]
    assert entries["linkedin.feed"]["crop_set_by"] == "studio"


def test_a_form_sends_crops_as_json_text(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    image = ("p.jpg", make_image(1600, 1200, "JPEG"), "image/jpeg")
    crops = json.dumps({"instagram.story": STORY_BOX})
    response = post_social(embedded, key, image, formats="instagram.story", zip="false", crops=crops)
    job = embedded.wait_job(key, accepted_id(response))
    assert job["outputs"][0]["metadata"]["crop_box"] == [40, 100, 450, 800]


@pytest.mark.parametrize(
    ("crops", "field", "words"),
    [
        ({"twitter.post": STORY_BOX}, "crops.twitter.post", "not one of the formats"),
        ({"instagram.story": {**STORY_BOX, "width": 600}}, "crops.instagram.story", "aspect"),
        ({"instagram.story": {**STORY_BOX, "y": 500}}, "crops.instagram.story", "reaches past the 1600x1200"),
        ({"instagram.story": {**STORY_BOX, "x": -1}}, "crops.instagram.story.x", "greater than or equal"),
        ({"instagram.story": {"x": 0, "y": 0}}, "crops.instagram.story.width", "required"),
    ],
)
@pytest.mark.parametrize("route", ["optimize", "plan"])
def test_a_crop_that_cannot_be_used_is_a_422_naming_it_and_nothing_is_queued(
    embedded: Embedded, crops: dict[str, Any], field: str, words: str, route: str
) -> None:
    key = embedded.new_key()
    image = upload(embedded, key)
    response = embedded.client.post(
        f"{API}/social/{route}",
        headers=auth(key),
        json={"image": image, "formats": ["instagram.story"], "crops": crops},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = [error["field"] for error in problem["errors"]]
    assert field in fields, problem
    assert words in response.text
    jobs = embedded.client.get(f"{API}/jobs", headers=auth(key)).json()
    assert jobs["items"] == []


def test_a_box_a_pixel_off_the_aspect_is_taken(embedded: Embedded) -> None:
    """A box dragged in a browser is whole pixels: 451x800 is 9:16 to within a pixel."""
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        json={
            "image": upload(embedded, key),
            "formats": ["instagram.story"],
            "crops": {"instagram.story": {**STORY_BOX, "width": 451}},
        },
    )
    assert response.status_code == 202, response.text
