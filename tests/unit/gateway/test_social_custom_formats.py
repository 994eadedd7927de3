"""Custom social formats (``{"name", "width", "height", "safe_zone"?}``) beside catalogue keys: JSON, form, batch."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image
from support import Embedded, accepted_id, make_image, post_social

API = "/api/image-studio"
BANNER = {"name": "partner_banner", "width": 1200, "height": 1500, "safe_zone": {"top": 0.1}}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(stack: Embedded, key: str) -> str:
    response = stack.client.post(
        f"{API}/uploads",
        headers=auth(key),
        files={"file": ("p.jpg", make_image(1600, 1200, "JPEG"), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def images_of(stack: Embedded, key: str, job_id: str) -> dict[str, Any]:
    job = stack.wait_job(key, job_id)
    assert job["status"] == "succeeded", job
    return {o["name"]: o for o in job["outputs"] if o["kind"] == "image"}


def test_json_job_renders_a_custom_size_beside_a_catalogue_format(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        json={"image": upload(embedded, key), "formats": ["instagram.story", BANNER], "zip": False},
    )
    images = images_of(embedded, key, accepted_id(response))
    assert set(images) == {"instagram.story", "custom.partner_banner"}
    banner = images["custom.partner_banner"]
    data = embedded.client.get(banner["url"]).content
    assert Image.open(io.BytesIO(data)).size == (1200, 1500)
    assert banner["metadata"]["safe_zone"]["top"] == 0.1
    assert banner["metadata"]["safe_zone"]["left"] == 0.05  # the title-safe margin catalogue formats keep


def test_form_takes_a_custom_format_as_json_in_a_formats_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    square_ad = json.dumps({"name": "square_ad", "width": 500, "height": 500})
    image = ("p.jpg", make_image(900, 600, "JPEG"), "image/jpeg")
    images = images_of(
        embedded, key, accepted_id(post_social(embedded, key, image, formats=["twitter.post", square_ad]))
    )
    assert set(images) == {"twitter.post", "custom.square_ad"}
    assert (images["custom.square_ad"]["width"], images["custom.square_ad"]["height"]) == (500, 500)


def test_batch_entry_with_a_custom_format_is_accepted_and_priced_like_catalogue_ones(
    embedded: Embedded,
) -> None:
    key = embedded.new_key()
    image = upload(embedded, key)
    response = embedded.client.post(
        f"{API}/jobs/batch",
        headers=auth(key),
        json={
            "jobs": [{"studio": "social", "params": {"image": image, "formats": ["linkedin.feed", BANNER]}}]
        },
    )
    assert response.status_code == 200, response.text
    entry = response.json()["jobs"][0]
    assert entry["status"] == 202, entry
    assert entry["job"]["params"]["formats"] == ["linkedin.feed", "custom.partner_banner"]
    estimate = embedded.client.post(
        f"{API}/estimate-cost",
        headers=auth(key),
        json={"studio": "social", "params": {"formats": ["linkedin.feed", BANNER]}},
    )
    assert estimate.status_code == 200, estimate.text
    items = [item["item"] for item in estimate.json()["breakdown"]]
    assert items == ["linkedin.feed", "custom.partner_banner"]


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"name": "big", "width": 9000, "height": 500}, "width"),
        ({"name": "tiny", "width": 500, "height": 4}, "height"),
        ({"name": "bad name!", "width": 500, "height": 500}, "name"),
        ({"name": "zone", "width": 500, "height": 500, "safe_zone": {"top": 0.9}}, "top"),
        ({"name": "extra", "width": 500, "height": 500, "colour": "red"}, "colour"),
    ],
)
def test_out_of_bounds_custom_format_is_422_naming_the_field(
    embedded: Embedded, custom: dict[str, Any], field: str
) -> None:
    key = embedded.new_key()
    for body in (
        {"json": {"image": "upl_" + "0" * 32, "formats": [custom]}},
        {
            "files": {"image": ("p.jpg", make_image(300, 200, "JPEG"), "image/jpeg")},
            "data": {"formats": [json.dumps(custom)]},
        },
    ):
        response = embedded.client.post(f"{API}/social/optimize", headers=auth(key), **body)  # type: ignore[arg-type]
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["field"].startswith("formats") and problem["field"].endswith(field), problem
