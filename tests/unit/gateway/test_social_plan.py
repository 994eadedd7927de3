"""``POST /social/plan``: each format's crop worked out by a short job, the same numbers the job renders with."""

from __future__ import annotations

import io

import cv2
import pytest
from PIL import Image
from skimage import data as skimage_data
from support import Embedded, post_social

from imagestudio.imaging import SourceImage
from imagestudio.studios.social import SocialPlan, SocialPlanJob
from imagestudio.studios.social.analyses import forget_all

API = "/api/image-studio"
FORMATS = "instagram.story,facebook.feed,twitter.header,youtube.thumbnail"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def portrait() -> bytes:
    """The astronaut photo at 1024 px: a face near the top, which the story's top band covers."""
    pixels = cv2.resize(skimage_data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def finished(stack: Embedded, key: str, route: str, upload_id: str) -> dict[str, object]:
    response = stack.client.post(
        f"{API}/social/{route}", headers=auth(key), json={"image": upload_id, "formats": FORMATS.split(",")}
    )
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, str(response.json()["id"]))
    assert job["status"] == "succeeded", job
    return job


def test_plan_answers_the_crops_the_job_renders_with(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    upload = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("p.png", portrait(), "image/png")}
    )
    assert upload.status_code == 201, upload.text
    upload_id = upload.json()["id"]

    planned = finished(embedded, key, "plan", upload_id)
    rendered = finished(embedded, key, "optimize", upload_id)

    outputs = planned["outputs"]
    assert isinstance(outputs, list) and [o["name"] for o in outputs] == ["plan"]  # nothing rendered
    plan = SocialPlan.model_validate(outputs[0]["metadata"])
    assert (plan.source_width, plan.source_height) == (1024, 1024)
    assert [entry.format for entry in plan.formats] == FORMATS.split(",")
    images = {o["name"]: o["metadata"] for o in rendered["outputs"] if o["kind"] == "image"}  # type: ignore[union-attr]
    for entry in plan.formats:
        made = images[entry.format]
        assert made["crop_box"] == list(entry.crop_box or ())
        assert made["zoom"] == entry.zoom
        assert made["zoom_limit"] == entry.zoom_limit
        subject = made["subject"]
        assert subject["placed_on"] == entry.placed_on
        assert subject["box"] == list(entry.subject_box_in_output or ())
        assert subject["inside_safe_zone"] == entry.inside_safe_zone
        assert subject["zoom_limit"] == entry.zoom_limit
        assert subject["faces"] == len(entry.faces)
    story = plan.formats[0]
    assert story.placed_on == "faces" and story.faces and story.subject_box is not None
    # The 1024 px square is smaller than the 1080x1920 story: the face stays under the top band
    # because any zoom would enlarge the source, and the plan says so.
    assert (story.inside_safe_zone, story.zoom, story.zoom_limit) == (False, 1.0, "source_resolution")


def test_plan_refuses_an_unknown_format_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/social/plan", headers=auth(key), json={"image": "upl_" + "0" * 32, "formats": ["nope.story"]}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "formats" in response.text


def test_plan_under_prefer_wait_answers_200_with_the_typed_plan(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    formats = ["instagram.story", '{"name": "banner", "width": 1200, "height": 400}']
    image = ("p.png", portrait(), "image/png")
    response = post_social(embedded, key, image, route="plan", prefer="wait=60", formats=formats)
    assert response.status_code == 200, response.text
    job = SocialPlanJob.model_validate(response.json())
    plan = job.outputs[0].metadata
    assert [entry.format for entry in plan.formats] == ["instagram.story", "custom.banner"]
    banner = plan.formats[1]
    assert banner.crop_box is not None and banner.crop_box[2] * 400 == pytest.approx(
        banner.crop_box[3] * 1200, rel=0.01
    )


def test_a_repeat_plan_for_the_same_upload_answers_without_decoding(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker keeps what smart crop found per tenant and bytes: the redraw decodes nothing."""
    forget_all()
    decodes: list[int] = []
    load = SourceImage.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[SourceImage], data: bytes, **kwargs: object) -> SourceImage:
        decodes.append(len(data))
        return load(cls, data, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(SourceImage, "load", classmethod(counted))
    embedded.start_worker()
    key, other = embedded.new_key(), embedded.new_key()
    first = planned_upload(embedded, key)
    assert planned_upload(embedded, key) == first  # the same bytes, uploaded again
    assert len(decodes) == 1  # the second plan decoded nothing
    # Another tenant's identical bytes are its own: decoded and searched again.
    assert planned_upload(embedded, other) == first
    assert len(decodes) == 2


def planned_upload(stack: Embedded, key: str) -> SocialPlan:
    upload = stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("p.png", portrait(), "image/png")}
    )
    assert upload.status_code == 201, upload.text
    job = finished(stack, key, "plan", upload.json()["id"])
    return SocialPlan.model_validate(job["outputs"][0]["metadata"])  # type: ignore[index]
