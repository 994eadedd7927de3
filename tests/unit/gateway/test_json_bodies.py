"""Studio routes with a JSON body: images named by upload id, the same fields and refusals as the form."""

from __future__ import annotations

import json
from typing import Any

from edit_support import Studio, mask_png, png
from sqlalchemy import func, select
from support import Embedded, make_image
from upload_support import FakeUploads

from imagestudio.db import session_scope
from imagestudio.jobs.models import CHECKED_SIZES, Job

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_json(embedded: Embedded, key: str, route: str, body: dict[str, Any], **headers: str) -> Any:
    return embedded.client.post(f"{API}/{route}", json=body, headers={**auth(key), **headers})


def stored_inputs(job_id: str) -> dict[str, str]:
    """The job's input keys by field (the sizes the gateway checked are stored beside them)."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return {name: key for name, key in job.inputs.items() if name != CHECKED_SIZES}


def job_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_social_json_body_naming_an_upload_runs_to_succeeded(
    embedded: Embedded, uploads: FakeUploads
) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    upload_id = uploads.add(make_image(1200, 900, "JPEG"))
    body = {"image": upload_id, "formats": ["instagram.story", "twitter.post"], "output_format": "webp"}
    response = post_json(embedded, key, "social/optimize", body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"{API}/jobs/{response.json()['id']}"
    job = embedded.wait_job(key, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert {o["name"] for o in job["outputs"]} == {"instagram.story", "twitter.post", "all.zip"}
    # Nothing was stored again: the job reads the upload's own object.
    assert stored_inputs(job["id"]) == {"image": uploads.known[upload_id].key}


def test_edit_json_body_with_image_and_mask_uploads_runs_to_succeeded(
    studio: Studio, uploads: FakeUploads
) -> None:
    image, mask = uploads.add(png()), uploads.add(mask_png())
    body = {"operation": "inpaint", "image": image, "mask": mask, "prompt": "a vase", "path": "provider"}
    response = post_json(studio.embedded, studio.key, "edit", body)
    assert response.status_code == 202, response.text
    job = studio.embedded.wait_job(studio.key, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["outputs"][0]["metadata"]["provider"] == "stability"
    assert job["params"]["area"] == "mask" and job["params"]["image_size"] == [320, 256]
    assert stored_inputs(job["id"]) == {"image": uploads.known[image].key, "mask": uploads.known[mask].key}


def test_upscale_json_body_runs_to_succeeded(studio: Studio, uploads: FakeUploads) -> None:
    image = uploads.add(png(64, 48))
    response = post_json(studio.embedded, studio.key, "upscale", {"image": image, "path": "local"})
    assert response.status_code == 202, response.text
    job = studio.embedded.wait_job(studio.key, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert (job["outputs"][0]["width"], job["outputs"][0]["height"]) == (256, 192)
    assert stored_inputs(job["id"]) == {"image": uploads.known[image].key}


def test_json_and_form_bodies_judge_an_image_alike(studio: Studio, uploads: FakeUploads) -> None:
    """A mask of another size is refused the same way whether it was uploaded before or sent as a file."""
    image, mask = png(), mask_png(100, 100)
    form = studio.post("edit", {"operation": "erase"}, {"image": image, "mask": mask})
    body = {"operation": "erase", "image": uploads.add(image), "mask": uploads.add(mask)}
    as_json = post_json(studio.embedded, studio.key, "edit", body)
    assert form.status_code == as_json.status_code == 422
    assert form.json()["field"] == as_json.json()["field"] == "mask"
    assert form.json()["detail"] == as_json.json()["detail"]
    assert job_count() == 0


def test_unknown_upload_id_is_422_naming_the_field(studio: Studio, uploads: FakeUploads) -> None:
    image = uploads.add(png())
    social = post_json(studio.embedded, studio.key, "social/optimize", {"image": "upl_nope"})
    assert social.status_code == 422 and social.json()["field"] == "image", social.text
    assert social.headers["content-type"] == "application/problem+json"
    edit = post_json(
        studio.embedded, studio.key, "edit", {"operation": "erase", "image": image, "mask": "upl_x"}
    )
    assert edit.status_code == 422 and edit.json()["field"] == "mask", edit.text
    assert job_count() == 0


def test_unknown_json_field_is_422_naming_it(embedded: Embedded, uploads: FakeUploads) -> None:
    key = embedded.new_key()
    body = {"image": uploads.add(make_image()), "formats": ["instagram.story"], "colour": "red"}
    response = post_json(embedded, key, "social/optimize", body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "colour"
    assert response.headers["content-type"] == "application/problem+json"
    out_of_range = post_json(embedded, key, "upscale", {"image": "upl_x", "creativity": 2})
    assert out_of_range.status_code == 422 and out_of_range.json()["field"] == "creativity"
    assert job_count() == 0


def test_json_body_without_its_image_is_422_naming_it(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = post_json(embedded, key, "social/optimize", {"formats": ["instagram.story"]})
    assert response.status_code == 422 and response.json()["field"] == "image", response.text
    broken = embedded.client.post(
        f"{API}/social/optimize",
        content=b"{not json",
        headers={**auth(key), "content-type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["field"] == "body"


def test_json_webhook_fields_are_checked_like_the_form(embedded: Embedded, uploads: FakeUploads) -> None:
    key = embedded.new_key()
    body = {"image": uploads.add(make_image()), "webhook_events": ["job.succeeded"]}
    response = post_json(embedded, key, "social/optimize", body)
    assert response.status_code == 422 and response.json()["field"] == "webhook_events", response.text


def test_json_submission_replays_under_its_idempotency_key(embedded: Embedded, uploads: FakeUploads) -> None:
    key = embedded.new_key()
    body = {"image": uploads.add(make_image()), "formats": ["instagram.story"]}
    first = post_json(embedded, key, "social/optimize", body, **{"Idempotency-Key": "k-1"})
    again = post_json(
        embedded, key, "social/optimize", dict(reversed(body.items())), **{"Idempotency-Key": "k-1"}
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert job_count() == 1


def test_openapi_describes_both_bodies_of_each_studio_route(embedded: Embedded) -> None:
    paths = embedded.client.get("/openapi.json").json()["paths"]
    for route in ("social/optimize", "edit", "upscale"):
        content = paths[f"{API}/{route}"]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}, route
        json_schema, form_schema = (
            content["application/json"]["schema"],
            content["multipart/form-data"]["schema"],
        )
        assert "image" in json_schema["required"] and json_schema["additionalProperties"] is False
        assert json_schema["properties"]["image"]["anyOf"][0]["type"] == "string"
        assert form_schema["properties"]["image"]["format"] == "binary"
        assert set(json_schema["properties"]) == set(form_schema["properties"])
        # A form cannot send null (it leaves the field out): declaring it invited the text "null", a 422.
        assert "null" not in json.dumps(form_schema), route
        assert form_schema["properties"]["webhook_url"].get("type") == "string", route
    assert "requestBody" in paths[f"{API}/jobs/batch"]["post"]
