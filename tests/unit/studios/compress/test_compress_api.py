"""Compress and convert through the embedded stack: jobs end to end, answers, and refusals naming the field."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos
from sqlalchemy import func, select
from support import Embedded

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.outbox import OutboxMessage

API = "/api/image-studio"


@pytest.fixture
def stack(embedded: Embedded) -> Iterator[Embedded]:
    import compress_worker.main  # noqa: F401  (declares compress.run_job on the session's stub broker)

    yield embedded


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def encoded(pixels: np.ndarray, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def photo_png() -> bytes:
    return encoded(np.asarray(photos.astronaut(), np.uint8))


def post(stack: Embedded, key: str, route: str, image: bytes, **form: object) -> tuple[int, dict[str, Any]]:
    response = stack.client.post(
        f"{API}/{route}",
        headers=auth(key),
        files={"image": ("photo.png", image, "application/octet-stream")},
        data={k: str(v) for k, v in form.items()},
    )
    return response.status_code, response.json()


def finished(stack: Embedded, key: str, body: dict[str, Any]) -> dict[str, Any]:
    job = stack.wait_job(key, str(body["id"]))
    assert job["status"] == "succeeded", job
    return job


def nothing_enqueued() -> None:
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_target_ssim_job_answers_sizes_quality_ssim_and_dimensions(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    source = photo_png()
    code, body = post(stack, key, "compress", source, format="jpeg", target_ssim=0.97)
    assert code == 202, body
    assert body["studio"] == "compress"
    job = finished(stack, key, body)
    (output,) = job["outputs"]
    meta = output["metadata"]
    assert output["name"] == "compressed" and output["format"] == "jpeg"
    assert meta["bytes_before"] == len(source) and meta["bytes_after"] < len(source) / 3
    assert meta["ssim"] >= 0.97 and meta["mode"] == "target_ssim" and 10 <= meta["quality"] <= 100
    tables = meta["jpeg_tables"]  # real-valued tables, or None when mozjpeg's trellis answered
    assert tables is None or round(tables["quality"]) == meta["quality"]
    assert (meta["width"], meta["height"]) == (512, 512) == (output["width"], output["height"])
    data = stack.client.get(output["url"]).content
    assert len(data) == meta["bytes_after"]
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert job["progress"] == 1.0
    # Each search step in plain words, counted against the bound; no engine internals.
    events = stack.client.get(f"{API}/jobs/{body['id']}/events", headers=auth(key)).text
    steps = re.findall(r"Search step (\d+) of at most (\d+): tried quality \d+, [\d.]+ kB, SSIM", events)
    assert steps and [int(i) for i, _ in steps] == list(range(1, len(steps) + 1)), events
    assert "chroma" not in events and "4:4:4" not in events


def test_a_source_that_already_meets_the_target_is_returned_not_enlarged(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    exif = Image.Exif()
    exif[0x010F] = "TestCamera"  # Make
    pixels = np.asarray(photos.astronaut(), np.uint8)
    source = encoded(pixels, "JPEG", quality=40, exif=exif.tobytes())
    # SSIM 0.999 to a q40 JPEG's pixels needs a near-lossless re-encode, far larger than the source.
    code, body = post(stack, key, "compress", source, target_ssim=0.999)
    assert code == 202, body
    (output,) = finished(stack, key, body)["outputs"]
    meta = output["metadata"]
    assert meta["kept_source"] is True and meta["format"] == "jpeg" and meta["ssim"] == 1.0
    assert meta["bytes_after"] <= meta["bytes_before"] == len(source)
    data = stack.client.get(output["url"]).content
    assert b"TestCamera" not in data  # metadata stripped, as the default asks
    same = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(same, np.asarray(Image.open(io.BytesIO(source)).convert("RGB")))


def test_a_source_larger_than_the_encode_is_not_kept(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    source = encoded(np.asarray(photos.astronaut(), np.uint8), "JPEG", quality=98)
    code, body = post(stack, key, "compress", source, target_ssim=0.95)
    assert code == 202, body
    meta = finished(stack, key, body)["outputs"][0]["metadata"]
    assert meta["kept_source"] is False and meta["bytes_after"] < len(source) / 2


def test_preset_job_uses_the_preset_format_and_quality_and_costs_nothing(stack: Embedded) -> None:
    key = stack.new_key(tier="free")
    stack.start_worker()
    balance = stack.client.get(f"{API}/credits", headers=auth(key)).json()["balance"]
    code, body = post(stack, key, "compress", photo_png(), preset="web")
    assert code == 202, body
    meta = finished(stack, key, body)["outputs"][0]["metadata"]
    assert (meta["format"], meta["quality"], meta["preset"]) == ("webp", 80, "web")
    assert stack.client.get(f"{API}/credits", headers=auth(key)).json()["balance"] == balance


def test_unreachable_byte_target_fails_the_job_naming_the_field(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    code, body = post(stack, key, "compress", photo_png(), format="jpeg", target_kb=1)
    assert code == 202, body
    job = stack.wait_job(key, str(body["id"]))
    assert job["status"] == "failed"
    assert job["error"]["field"] == "target_kb" and "out of reach" in job["error"]["detail"]


@pytest.mark.parametrize("mode", ["L", "1"])
def test_a_single_grey_pixel_compresses_at_the_defaults(stack: Embedded, mode: str) -> None:
    """A 1x1 one-band image failed ``internal`` after three attempts (pyvips gives it as a 0-d array)."""
    key = stack.new_key()
    stack.start_worker()
    pixel = io.BytesIO()
    Image.new(mode, (1, 1), 1).save(pixel, "PNG")
    code, body = post(stack, key, "compress", pixel.getvalue())
    assert code == 202, body
    (output,) = finished(stack, key, body)["outputs"]
    assert (output["metadata"]["width"], output["metadata"]["height"]) == (1, 1)


def test_convert_flattens_a_transparent_png_on_the_chosen_colour(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[20:40, 20:60] = (250, 250, 250, 255)
    code, body = post(stack, key, "convert", encoded(rgba), format="jpeg", background="#00ff00")
    assert code == 202, body
    output = finished(stack, key, body)["outputs"][0]
    assert output["name"] == "converted" and output["metadata"]["transparency"] == "flattened"
    pixels = np.asarray(Image.open(io.BytesIO(stack.client.get(output["url"]).content)).convert("RGB"))
    assert [int(v) for v in pixels[2, 2]] == pytest.approx([0, 255, 0], abs=6)


def test_convert_animated_gif_to_webp_keeps_every_frame(stack: Embedded) -> None:
    key = stack.new_key()
    stack.start_worker()
    frames = [Image.new("RGB", (64, 48), (30 * i, 90, 160)) for i in range(5)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    code, body = post(stack, key, "convert", gif.getvalue(), format="webp")
    assert code == 202, body
    output = finished(stack, key, body)["outputs"][0]
    assert output["metadata"]["frames"] == 5 and output["metadata"]["frames_dropped"] == 0
    webp = Image.open(io.BytesIO(stack.client.get(output["url"]).content))
    assert webp.format == "WEBP" and webp.n_frames == 5 and webp.size == (64, 48)


def test_batch_carries_compress_and_convert_entries(stack: Embedded) -> None:
    key = stack.new_key()
    upload = stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("p.png", photo_png(), "image/png")}
    ).json()["id"]
    response = stack.client.post(
        f"{API}/jobs/batch",
        headers=auth(key),
        json={
            "jobs": [
                {"studio": "compress", "params": {"image": upload, "target_kb": 40}},
                {"studio": "convert", "params": {"image": upload, "format": "tiff"}},
                {"studio": "compress", "params": {"image": upload, "quality": 80, "target_kb": 40}},
            ]
        },
    )
    assert response.status_code == 200, response.text
    entries = response.json()["jobs"]
    assert [e["status"] for e in entries] == [202, 202, 422]
    assert {e["job"]["studio"] for e in entries[:2]} == {"compress"}
    assert entries[2]["problem"]["field"] == "target_kb"


@pytest.mark.parametrize(
    ("route", "form", "field"),
    [
        ("compress", {"quality": 80, "target_ssim": 0.98}, "target_ssim"),
        ("compress", {"target_kb": 100, "preset": "web"}, "preset"),
        ("compress", {"preset": "email", "format": "png"}, "format"),
        ("compress", {"target_ssim": 1.5}, "target_ssim"),
        ("compress", {"target_ssim": 1.0, "format": "jpeg"}, "target_ssim"),
        ("compress", {"target_kb": 0}, "target_kb"),
        ("compress", {"quality": 101}, "quality"),
        ("compress", {"format": "gif"}, "format"),
        ("compress", {"preset": "tiny"}, "preset"),
        ("convert", {"format": "jpeg", "transparency": "preserve"}, "transparency"),
        ("convert", {"format": "png", "quality": 80}, "quality"),
        ("convert", {"format": "webp", "background": "green"}, "background"),
        ("convert", {"format": "png", "transparency": "preserve", "background": "#000000"}, "background"),
        ("convert", {"format": "heic"}, "format"),
        ("convert", {}, "format"),
    ],
)
def test_contradictory_or_out_of_range_fields_are_refused_naming_the_field(
    stack: Embedded, route: str, form: dict[str, object], field: str
) -> None:
    key = stack.new_key()
    code, body = post(stack, key, route, photo_png(), **form)
    assert code == 422, body
    assert body["field"] == field, body
    assert body["type"].startswith("https://") and body["detail"]
    nothing_enqueued()


def test_avif_refused_at_the_gateway_when_libvips_cannot_write_it(
    stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.studios import compress
    from imagestudio.studios.compress import convert

    monkeypatch.setattr(compress, "avif_supported", lambda: False)
    monkeypatch.setattr(convert, "avif_supported", lambda: False)
    key = stack.new_key()
    for route in ("compress", "convert"):
        code, body = post(stack, key, route, photo_png(), format="avif")
        assert code == 422 and body["field"] == "format" and "AVIF" in body["detail"], body
    nothing_enqueued()


def test_options_list_formats_presets_and_fields(stack: Embedded) -> None:
    key = stack.new_key()
    options = stack.client.get(f"{API}/compress/options", headers=auth(key)).json()
    assert [p["id"] for p in options["presets"]] == [
        "web",
        "email",
        "social",
        "high_quality",
        "max_compression",
    ]
    formats = {f["id"]: f for f in options["formats"]}
    assert set(formats) == {"jpeg", "png", "webp", "avif", "gif", "tiff", "bmp"}
    assert formats["gif"]["animation"] and not formats["jpeg"]["alpha"] and not formats["bmp"]["compress"]
    assert {"quality", "target_kb", "target_ssim", "preset"} <= set(options["compress"]["fields"])
    assert options["compress"]["fields"]["image"]["type"] == "file"
    presets = stack.client.get(f"{API}/compress/presets", headers=auth(key)).json()["presets"]
    assert presets == options["presets"]
    estimate = stack.client.post(
        f"{API}/estimate-cost", headers=auth(key), json={"studio": "compress", "params": {"target_kb": 50}}
    ).json()
    assert estimate["total_credits"] == 0
