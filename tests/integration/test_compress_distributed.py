"""The compress studio on real services: gateway → outbox → RabbitMQ (queue `compress`) → compress worker → S3."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as photos
from support import wait_for

from integration.conftest import Stack

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def submit(stack: Stack, route: str, image: bytes, **form: str) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.base_url}{API}/{route}",
        headers=stack.headers(),
        files={"image": ("photo.png", image, "image/png")},
        data=form,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_finished(stack: Stack, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job = httpx.get(f"{stack.base_url}{API}/jobs/{job_id}", headers=stack.headers(), timeout=10).json()
        return job if job["status"] in ("succeeded", "failed", "canceled") else None

    return wait_for(finished, timeout=120, interval=0.2, what=f"job {job_id} to finish")  # type: ignore[no-any-return]


def test_compress_and_convert_jobs_run_on_the_compress_worker(stack: Stack) -> None:
    worker = stack.worker("compress")
    source = png(np.asarray(photos.coffee(), np.uint8))
    compress = submit(stack, "compress", source, format="webp", target_ssim="0.97")
    rgba = np.zeros((90, 120, 4), np.uint8)
    rgba[30:60, 30:90] = (10, 200, 90, 255)
    convert = submit(stack, "convert", png(rgba), format="webp")
    assert compress["studio"] == convert["studio"] == "compress"

    done = wait_finished(stack, compress["id"])
    assert done["status"] == "succeeded", (done, worker.output())
    output = done["outputs"][0]
    meta = output["metadata"]
    assert meta["ssim"] >= 0.97 and meta["bytes_after"] < meta["bytes_before"] == len(source)
    data = httpx.get(output["url"], timeout=10).content  # the presigned S3 link
    assert len(data) == meta["bytes_after"] and Image.open(io.BytesIO(data)).format == "WEBP"

    converted = wait_finished(stack, convert["id"])
    assert converted["status"] == "succeeded", (converted, worker.output())
    webp = Image.open(io.BytesIO(httpx.get(converted["outputs"][0]["url"], timeout=10).content))
    pixels = np.asarray(webp.convert("RGBA"))
    assert pixels[0, 0, 3] == 0 and pixels[45, 60, 3] == 255  # transparency preserved


def test_compress_queue_is_durable_with_a_dead_letter_queue(stack: Stack) -> None:
    stack.worker("compress")
    stack.wait_for_durable_queue("compress")
