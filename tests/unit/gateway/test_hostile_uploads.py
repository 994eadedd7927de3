"""A hostile upload corpus sent to every image-taking route: each file's outcome is stated, never a 5xx.

Routes: ``POST /social/optimize``, ``/edit`` (local outpaint), ``/upscale`` (fast, the simulated
provider first, then the local path) and ``POST /uploads``. ``/create`` takes no image. Outcomes:

- ``Refused``: a 4xx problem+json naming the field, and nothing stored, queued or charged (no
  job, outbox message, upload row, object or ledger entry; balance and reserve unchanged);
- ``Processed``: 202 and the job succeeds end to end in the workers (an upload: 201, ``ready``);
  every output decodes as an upright 8-bit image and carries nothing of the upload but pixels.
  Upscale's provider (the Stability simulator, which like the real API reads only JPEG, PNG and
  WebP) serves GIF, TIFF, BMP and EXIF-turned photos too: the worker re-encodes them upright;
- ``FailsInvalid``: the header is sound, so 202 (201 for an upload), then the worker's decode fails
  the job with ``invalid-image`` on its first delivery and its held credits are released.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hostile_corpus as corpus
import pytest
from edit_support import Studio
from PIL import Image
from sqlalchemy import func, select

API = "/api/image-studio"
PROBLEM = "https://imagestudio.dev/problems/"


@dataclass(frozen=True)
class Refused:
    status: int
    problem: str  # the problem type's last segment


@dataclass(frozen=True)
class Processed:
    #: Whether the outputs must show the upright quadrant picture (the EXIF-orientation cases).
    upright: bool = False
    #: (width, height) the upload's record must state: the upright size from the header.
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class FailsInvalid:
    pass


Outcome = Refused | Processed | FailsInvalid


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    file_field: str
    form: dict[str, str]
    #: The box (left, top, right, bottom) of an output in which the whole upright input lies.
    content: Callable[[int, int, tuple[int, int]], tuple[float, float, float, float]] | None = None
    #: The path every output must say it took (upscale: the simulated provider, never the fallback).
    served_by: str | None = None


def _fitted(width: int, height: int, source: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where ``crop_mode=fit`` letterboxes the source inside the output (centred, scaled to fit)."""
    scale = min(width / source[0], height / source[1])
    w, h = source[0] * scale, source[1] * scale
    return ((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)


OUTPAINT_RIGHT = 32
ROUTES = {
    "social": Route(
        "social",
        "/social/optimize",
        "image",
        {"formats": "instagram.feed_square", "crop_mode": "fit", "zip": "false"},
        _fitted,
    ),
    "edit": Route(
        "edit",
        "/edit",
        "image",
        {"operation": "outpaint", "path": "local", "right": str(OUTPAINT_RIGHT), "output_format": "png"},
        lambda w, h, source: (0, 0, w - OUTPAINT_RIGHT, h),
    ),
    "upscale": Route(
        "upscale",
        "/upscale",
        "image",
        {"mode": "fast", "output_format": "png"},
        lambda w, h, source: (0, 0, w, h),
        served_by="provider",
    ),
    "uploads": Route("uploads", "/uploads", "file", {}),
}


@dataclass(frozen=True)
class Case:
    id: str
    data: Callable[[], bytes]
    content_type: str
    expect: Outcome
    #: Where a route answers differently from ``expect`` (its own limits), and why.
    per_route: dict[str, Outcome] = field(default_factory=dict)

    def outcome(self, route: str) -> Outcome:
        return self.per_route.get(route, self.expect)


TOO_LARGE = Refused(413, "image-too-large")
INVALID = Refused(422, "invalid-image")
UNDER_MINIMUM = Refused(422, "validation-failed")

CASES = [
    # Decompression bombs: refused from the header, before any pixel is decoded.
    Case("png-bomb-100000x100000", corpus.png_bomb, "image/png", TOO_LARGE),
    Case("jpeg-bomb-65000x65000", corpus.jpeg_bomb, "image/jpeg", TOO_LARGE),
    Case("webp-bomb-16383x16383", corpus.webp_bomb, "image/webp", TOO_LARGE),
    Case("gif-bomb-65535x65535", corpus.gif_bomb, "image/gif", TOO_LARGE),
    Case("gif-60-frames-of-1000x1000", corpus.animated_gif_frame_bomb, "image/gif", TOO_LARGE),
    # Damaged files: a sound header passes; the worker's one decode fails the job.
    Case("truncated-jpeg", lambda: corpus.truncated("JPEG"), "image/jpeg", FailsInvalid()),
    Case("truncated-png", lambda: corpus.truncated("PNG"), "image/png", FailsInvalid()),
    # libvips reads a WebP's and a GIF's header only together with their first frame's data.
    Case("truncated-webp", lambda: corpus.truncated("WEBP"), "image/webp", INVALID),
    Case("truncated-gif", lambda: corpus.truncated("GIF"), "image/gif", INVALID),
    Case("png-cut-inside-its-header", lambda: corpus.png()[:40], "image/png", INVALID),
    # Disguised, empty and not images at all, whatever content type they claim.
    Case("jpeg-zip-polyglot", corpus.jpeg_zip_polyglot, "image/jpeg", Processed(size=(160, 120))),
    Case("zero-bytes", lambda: b"", "image/png", INVALID),
    Case("svg-as-image-svg", lambda: corpus.SVG, "image/svg+xml", INVALID),
    Case("svg-as-image-png", lambda: corpus.SVG, "image/png", INVALID),
    Case("html-as-image-jpeg", lambda: corpus.HTML, "image/jpeg", INVALID),
    # Unusual but valid: decoded and converted to 8-bit sRGB.
    Case("cmyk-jpeg", corpus.cmyk_jpeg, "image/jpeg", Processed(size=(160, 120))),
    Case("16-bit-grey-png", corpus.png_16_bit, "image/png", Processed(size=(160, 120))),
    Case("16-bit-rgb-png", corpus.png_16_bit_rgb, "image/png", Processed(size=(64, 48))),
    Case("animated-gif", lambda: corpus.animated("GIF"), "image/gif", Processed(size=(120, 90))),
    Case("animated-webp", lambda: corpus.animated("WEBP"), "image/webp", Processed(size=(120, 90))),
    Case("multi-page-tiff", corpus.multipage_tiff, "image/tiff", Processed(size=(160, 120))),
    Case("bmp", corpus.bmp, "image/bmp", Processed(size=(160, 120))),
    # 1x1: the social formats scale it; edit's and upscale's own minimum sides refuse it.
    Case(
        "one-pixel-png",
        corpus.one_pixel_png,
        "image/png",
        Processed(size=(1, 1)),
        per_route={"edit": UNDER_MINIMUM, "upscale": UNDER_MINIMUM},
    ),
    *(
        Case(
            f"exif-orientation-{n}",
            lambda n=n: corpus.exif_rotated_jpeg(n),
            "image/jpeg",
            Processed(upright=True, size=corpus.UPRIGHT_SIZE),
        )
        for n in range(1, 9)
    ),
]


# --- what the system holds, before and after ---------------------------------------------------


def _held(studio: Studio) -> dict[str, Any]:
    """Counts of everything a refused request must leave untouched, and the tenant's credits."""
    from imagestudio.credits.models import CreditEntry
    from imagestudio.db import session_scope
    from imagestudio.jobs.models import Job
    from imagestudio.outbox import OutboxMessage
    from imagestudio.uploads.models import Upload

    credits = studio.get("/credits", limit=200).json()
    with session_scope() as session:
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Job, OutboxMessage, Upload, CreditEntry)
        }
    objects = studio.embedded.data_dir / "objects"
    counts["objects"] = len([p for p in objects.rglob("*") if p.is_file()]) if objects.exists() else 0
    return {**counts, "balance": credits["balance"], "reserved": credits["reserved"]}


def _job_ledger(studio: Studio, job_id: str) -> dict[str, int]:
    moved: dict[str, int] = {}
    for entry in studio.get("/credits", limit=200).json()["entries"]:
        if entry["job_id"] == job_id:
            moved[entry["kind"]] = moved.get(entry["kind"], 0) + entry["reserved_delta"]
    return moved


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _assert_upright(image: Image.Image, box: tuple[float, float, float, float], where: str) -> None:
    """The four quadrants of the upright picture sit where a viewer shows them inside ``box``."""
    left, top, right, bottom = box
    rgb = image.convert("RGB")
    for name, (fx, fy) in {
        "top_left": (0.25, 0.25),
        "top_right": (0.75, 0.25),
        "bottom_left": (0.25, 0.75),
        "bottom_right": (0.75, 0.75),
    }.items():
        xy = (int(left + fx * (right - left)), int(top + fy * (bottom - top)))
        got = rgb.getpixel(xy)
        assert isinstance(got, tuple) and _near(got, corpus.QUADRANTS[name]), (where, name, xy, got)


def _check_outputs(studio: Studio, route: Route, job: dict[str, Any], expect: Processed, case: Case) -> None:
    assert job["outputs"], job
    for output in job["outputs"]:
        response = studio.embedded.client.get(output["url"])
        assert response.status_code == 200, response.text
        data = response.content
        assert b"PK\x03\x04" not in data, "the polyglot's ZIP reached an output"
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.mode in {"RGB", "RGBA"}, (output["name"], image.mode)  # 8-bit sRGB
        assert (image.width, image.height) == (output["width"], output["height"])
        assert getattr(image, "n_frames", 1) == 1
        if route.served_by is not None:
            assert output["metadata"]["path"] == route.served_by, (case.id, route.name, output["metadata"])
        if expect.upright and route.content is not None:
            box = route.content(image.width, image.height, corpus.UPRIGHT_SIZE)
            _assert_upright(image, box, f"{case.id} {route.name} {output['name']}")


# --- the test ------------------------------------------------------------------------------------


def _send(studio: Studio, route: Route, case: Case) -> Any:
    return studio.embedded.client.post(
        f"{API}{route.path}",
        data=route.form,
        files={route.file_field: (f"upload-{case.id}", case.data(), case.content_type)},
        headers=studio.headers(),
    )


def _judge(
    studio: Studio,
    route: Route,
    case: Case,
    response: Any,
    before: dict[str, Any],
    *,
    field: str,
    expect: Outcome,
) -> None:
    """Assert ``response`` (to a job-making route) and the job it made are what ``expect`` states."""
    where = f"{case.id} -> {route.name}: expected {expect}"
    assert response.status_code < 500, (where, response.text)
    if isinstance(expect, Refused):
        assert response.status_code == expect.status, (where, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == PROBLEM + expect.problem, (where, problem)
        assert problem["field"] == field, (where, problem)
        assert _held(studio) == before, f"{where}: a refusal stored, queued or charged something"
        return
    assert response.status_code == 202, (where, response.text)
    accepted = response.json()
    job = studio.embedded.wait_job(studio.key, accepted["id"])
    if isinstance(expect, Processed):
        assert job["status"] == "succeeded", (where, job)
        _check_outputs(studio, route, job, expect, case)
        return
    assert job["status"] == "failed", (where, job)
    error = job["error"]
    assert error["type"] == PROBLEM + "invalid-image", (where, error)
    assert error["field"] == field and error["attempts"] == 1, (where, error)
    moved = _job_ledger(studio, job["id"])
    assert moved.get("release", 0) == -moved.get("reserve", 0) and "capture" not in moved, where
    after = _held(studio)
    assert (after["balance"], after["reserved"]) == (before["balance"], before["reserved"]), where


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_image_route_answers_each_hostile_upload_as_stated(studio: Studio, case: Case) -> None:
    for route in ROUTES.values():
        expect = case.outcome(route.name)
        before = _held(studio)
        response = _send(studio, route, case)
        if route.name != "uploads":
            _judge(studio, route, case, response, before, field=route.file_field, expect=expect)
            continue
        where = f"{case.id} -> uploads: expected {expect}"
        assert response.status_code < 500, (where, response.text)
        if isinstance(expect, Refused):
            _judge(studio, route, case, response, before, field="file", expect=expect)
            continue
        assert response.status_code == 201, (where, response.text)
        upload = response.json()
        assert upload["state"] == "ready"
        if isinstance(expect, Processed) and expect.size is not None:
            assert (upload["width"], upload["height"]) == expect.size, (where, upload)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_presigned_upload_of_each_hostile_file_is_judged_like_the_same_bytes_sent_in_a_form(
    studio: Studio, case: Case
) -> None:
    """PUT straight to storage, checked only when a job first names it: the same outcome, field ``image``."""
    route = ROUTES["upscale"]
    data = case.data()

    def presign(content_type: str) -> Any:
        return studio.embedded.client.post(
            f"{API}/uploads",
            headers=studio.headers(),
            json={"content_type": content_type, "bytes": max(len(data), 1)},
        )

    presigned = presign(case.content_type)
    if case.content_type == "image/svg+xml":  # not a type we take: refused up front, naming it
        assert presigned.status_code == 422 and presigned.json()["field"] == "content_type"
        presigned = presign("image/png")  # a client that lies about the type is judged by the bytes
    assert presigned.status_code == 201, presigned.text
    put_url = presigned.json()["put_url"].removeprefix("http://testserver")
    assert studio.embedded.client.put(put_url, content=data).status_code == 200
    before = _held(studio)

    response = studio.embedded.client.post(
        f"{API}{route.path}",
        headers=studio.headers(),
        json={**route.form, "image": presigned.json()["id"]},
    )

    _judge(studio, route, case, response, before, field="image", expect=case.outcome(route.name))
