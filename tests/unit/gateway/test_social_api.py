"""Social optimizer through the embedded stack: accepted jobs, outputs, and refused input."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image
from sqlalchemy import func, select
from support import Embedded, make_image, use_settings

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.outbox import OutboxMessage
from imagestudio.studios.social import PLATFORMS

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(stack: Embedded, key: str, image: bytes, **form: object) -> tuple[int, dict[str, object]]:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        files={"image": ("photo.png", image, "image/png")},
        data={k: v for k, v in form.items()},
    )
    return response.status_code, response.json()


def nothing_enqueued(stack: Embedded) -> None:
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    objects = stack.data_dir / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_job_accepted_with_202_location_and_body(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        files={"image": ("a.png", make_image(), "image/png")},
        data={"formats": "instagram.feed_square"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["studio"] == "social"
    assert response.headers["location"] == f"{API}/jobs/{body['id']}"
    assert body["links"]["self"] == response.headers["location"]
    assert body["created_at"]


def test_every_format_rendered_at_exact_size_with_zip(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    status, body = submit(
        embedded, key, make_image(1600, 1200), platforms="all", output_format="webp", safe_zone_overlay="true"
    )
    assert status == 202, body
    job = embedded.wait_job(key, str(body["id"]))
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    expected = {f.key: f for p in PLATFORMS.values() for f in p.formats}
    images = {o["name"]: o for o in job["outputs"] if o["kind"] == "image"}
    previews = [o for o in job["outputs"] if o["kind"] == "preview"]
    assert set(images) == set(expected)
    assert len(previews) == len(expected)
    for name, output in images.items():
        data = embedded.client.get(output["url"]).content
        img = Image.open(io.BytesIO(data))
        assert img.size == (expected[name].width, expected[name].height), name
        assert img.format == "WEBP"
        assert output["width"] == expected[name].width and output["format"] == "webp"
    archive = [o for o in job["outputs"] if o["name"] == "all.zip"]
    assert len(archive) == 1
    assert "/outputs/all.zip?" in archive[0]["url"]  # not all.zip.zip
    with zipfile.ZipFile(io.BytesIO(embedded.client.get(archive[0]["url"]).content)) as zf:
        names = zf.namelist()
    assert len(names) == 2 * len(expected)
    assert "instagram.story.webp" in names


def test_download_link_refuses_tampered_signature(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    _, body = submit(embedded, key, make_image(), formats="twitter.post")
    job = embedded.wait_job(key, str(body["id"]))
    url = job["outputs"][0]["url"]
    assert embedded.client.get(url).status_code == 200
    assert embedded.client.get(url[:-4] + "0000").status_code == 404


@pytest.mark.parametrize(
    ("image", "field", "status"),
    [
        (b"this is not an image", "image", 422),
        (b"", "image", 422),
    ],
    ids=["text", "empty"],
)
def test_bad_image_refused_and_nothing_enqueued(
    embedded: Embedded, image: bytes, field: str, status: int
) -> None:
    key = embedded.new_key()
    code, body = submit(embedded, key, image)
    assert code == status, body
    assert body["field"] == field
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    nothing_enqueued(embedded)


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (make_image(fmt="PNG")[:2000], "PNG"),
        (make_image(fmt="JPEG")[:1500], "JPEG"),
    ],
    ids=["truncated-png", "truncated-jpeg"],
)
def test_truncated_image_is_accepted_from_its_header_and_its_job_fails_invalid_image(
    embedded: Embedded, image: bytes, fmt: str
) -> None:
    key = embedded.new_key()
    code, body = submit(embedded, key, image, formats="twitter.post")
    assert code == 202, body  # the gateway reads the header only: the damage is past it
    embedded.start_worker()
    job = embedded.wait_job(key, str(body["id"]))
    assert job["status"] == "failed", job
    error = job["error"]
    assert error["type"].endswith("/invalid-image") and error["title"] == "Invalid image"
    assert error["field"] == "image" and f"{fmt} file is truncated or corrupt" in error["detail"]
    assert job["outputs"] == []


def test_the_gateway_judges_an_upload_by_its_header_without_decoding_pixels(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyvips  # type: ignore[import-untyped, unused-ignore]

    def decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gateway decoded pixels")

    for operation in ("avg", "copy_memory", "autorot", "numpy", "write_to_memory"):
        monkeypatch.setattr(pyvips.Image, operation, decoding, raising=False)
    key = embedded.new_key()
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    frames = [Image.new("P", (2000, 2000), i) for i in range(13)]
    animation = io.BytesIO()  # 13 frames of 4 MP: 52 MP in all, over the 50 MP limit
    frames[0].save(animation, "GIF", save_all=True, append_images=frames[1:])
    jpeg = make_image(640, 480, "JPEG")

    code, body = submit(embedded, key, bomb.getvalue())
    assert code == 413 and body["field"] == "image" and "20000x20000" in body["detail"], body
    code, body = submit(embedded, key, animation.getvalue())
    assert code == 413 and "13 frames of 2000x2000" in body["detail"], body
    nothing_enqueued(embedded)
    code, body = submit(embedded, key, jpeg[: len(jpeg) // 2], formats="twitter.post")
    assert code == 202, body  # truncated past its header: only the worker's decode can tell


def test_the_format_is_sniffed_from_the_bytes_not_the_content_type(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        files={"image": ("photo.png", make_image(fmt="JPEG"), "image/png")},
        data={"formats": "twitter.post"},
    )
    assert response.status_code == 202, response.text
    with session_scope() as session:
        job = session.get(Job, response.json()["id"])
        assert job is not None and job.inputs["image"].endswith(".jpg")


def test_decompression_bomb_refused(embedded: Embedded) -> None:
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # ~60 KB on the wire, 400 MP decoded
    key = embedded.new_key()
    code, body = submit(embedded, key, bomb.getvalue())
    assert code == 413 and body["field"] == "image", body
    nothing_enqueued(embedded)


def test_upload_over_byte_limit_refused(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:

    use_settings(monkeypatch, IMAGESTUDIO_MAX_UPLOAD_BYTES="10000")
    key = embedded.new_key()
    code, body = submit(embedded, key, make_image(400, 400, "BMP"))
    assert code == 413 and body["field"] == "image"
    assert "10000" in body["detail"]
    nothing_enqueued(embedded)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"platforms": "myspace"}, "platforms"),
        ({"formats": "instagram.billboard"}, "formats"),
        ({"crop_mode": "stretch"}, "crop_mode"),
        ({"output_format": "gif"}, "output_format"),
        ({"quality": "0"}, "quality"),
        ({"focal_x": "1.5", "focal_y": "0.5"}, "focal_x"),
        ({"focal_x": "0.5"}, "focal_y"),
        ({"background": "purple"}, "background"),
    ],
)
def test_bad_options_name_the_field(embedded: Embedded, form: dict[str, str], field: str) -> None:
    key = embedded.new_key()
    code, body = submit(embedded, key, make_image(), **form)
    assert code == 422, body
    assert body["field"] == field
    nothing_enqueued(embedded)


def test_missing_or_wrong_key_is_401_and_nothing_enqueued(embedded: Embedded) -> None:
    no_key = embedded.client.post(
        f"{API}/social/optimize", files={"image": ("a.png", make_image(), "image/png")}
    )
    assert no_key.status_code == 401
    assert no_key.headers["content-type"].startswith("application/problem+json")
    wrong = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth("isk_nope"),
        files={"image": ("a.png", make_image(), "image/png")},
    )
    assert wrong.status_code == 401
    assert embedded.client.get(f"{API}/social/platforms").status_code == 401
    nothing_enqueued(embedded)


def test_health_and_metrics_need_no_key(embedded: Embedded) -> None:
    assert embedded.client.get("/healthz").json() == {"status": "ok"}
    health = embedded.client.get(f"{API}/health")
    assert health.status_code == 200 and health.json()["checks"]["database"] == "ok"
    assert "imagestudio_http_requests_total" in embedded.client.get("/metrics").text


def test_platform_catalogue(embedded: Embedded) -> None:
    key = embedded.new_key()
    platforms = embedded.client.get(f"{API}/social/platforms", headers=auth(key)).json()["platforms"]
    assert {p["id"] for p in platforms} == {
        "instagram",
        "facebook",
        "twitter",
        "linkedin",
        "youtube",
        "pinterest",
        "tiktok",
        "threads",
        "bluesky",
    }
    formats = embedded.client.get(f"{API}/social/platforms/facebook/formats", headers=auth(key)).json()[
        "formats"
    ]
    cover = next(f for f in formats if f["id"] == "cover")
    assert (cover["width"], cover["height"]) == (820, 312)
    assert cover["aspect"] == "2.63:1"  # the seed called this 16:9
    x = embedded.client.get(f"{API}/platform-specs/x", headers=auth(key)).json()
    assert x["id"] == "twitter" and x["max_bytes"] == 5_000_000  # decimal MB: fits however X counts
    unknown = embedded.client.get(f"{API}/platform-specs/myspace", headers=auth(key))
    assert unknown.status_code == 422 and unknown.json()["field"] == "platform"
