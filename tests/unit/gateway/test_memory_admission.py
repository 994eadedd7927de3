"""The gateway refuses from the header what no worker has the memory for: 413 naming the pixels and
the limit, for a form's file, a JSON body naming an upload and a batch entry; nothing stored or charged."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from support import Embedded

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.studios import memory

API = "/api/image-studio"
PROBLEM = "https://imagestudio.dev/problems/image-over-memory-budget"
#: A worker budget whose compress jobs hold at most about one megapixel (4 threads in embedded mode).
ONE_MP_COMPRESS = memory.WORKER_BASELINE_BYTES + 4 * memory.MEMORY["compress"].bytes_for(1_000_000)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    fill = (90, 140, 200, 255)[: len(mode)]
    Image.new(mode, (width, height), fill).save(out, "PNG", compress_level=1)
    return out.getvalue()


def photo(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(3).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def jobs() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.fixture
def small_workers(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Embedded:
    monkeypatch.setenv("IMAGESTUDIO_WORKER_MEMORY_BYTES", str(ONE_MP_COMPRESS))
    get_settings.cache_clear()
    return embedded


def assert_over_budget(answer: dict[str, Any], *, pixels: int) -> None:
    limit = memory.pixel_budget("compress", get_settings())
    assert answer["type"] == PROBLEM and answer["status"] == 413, answer
    assert answer["field"] == "image" and answer["pixels"] == pixels and answer["limit"] == limit
    assert f"{pixels:,} pixels" in answer["detail"] and f"{limit:,}" in answer["detail"]


def test_a_form_over_the_compress_budget_is_413_naming_pixels_and_limit(small_workers: Embedded) -> None:
    key = small_workers.new_key()
    assert 900_000 < memory.pixel_budget("compress", get_settings()) < 1_100_000
    over = small_workers.client.post(
        f"{API}/compress", headers=auth(key), files={"image": ("p.jpg", photo(1400, 1000), "image/jpeg")}
    )
    assert over.status_code == 413, over.text
    assert over.headers["content-type"].startswith("application/problem+json")
    assert_over_budget(over.json(), pixels=1_400_000)
    assert jobs() == 0
    under = small_workers.client.post(
        f"{API}/compress", headers=auth(key), files={"image": ("p.jpg", photo(800, 600), "image/jpeg")}
    )
    assert under.status_code == 202, under.text


def test_json_bodies_and_batch_entries_naming_a_large_upload_are_refused_the_same(
    small_workers: Embedded,
) -> None:
    key = small_workers.new_key()
    created = small_workers.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("p.jpg", photo(1400, 1000), "image/jpeg")}
    )
    assert created.status_code == 201, created.text
    upload = created.json()["id"]
    single = small_workers.client.post(
        f"{API}/convert", headers=auth(key), json={"image": upload, "format": "webp"}
    )
    assert single.status_code == 413, single.text
    assert single.json()["limit"] == memory.pixel_budget("convert", get_settings())
    batch = small_workers.client.post(
        f"{API}/jobs/batch",
        headers=auth(key),
        json={"jobs": [{"studio": "compress", "params": {"image": upload}}]},
    )
    assert batch.status_code == 200, batch.text
    [entry] = batch.json()["jobs"]
    assert_over_budget(entry["problem"], pixels=1_400_000)
    assert jobs() == 0


def test_an_inpaint_no_worker_could_hold_is_refused_from_the_header_without_decoding(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: a 7000x7000 opaque RGBA PNG to inpaint with no mask was decoded whole in the
    gateway (``mask_from_alpha``) before a 422; the memory model refuses it from its header."""
    import imagestudio.imaging.edit as local_edit

    def decoded(*_: object, **__: object) -> None:
        raise AssertionError("the gateway decoded the image")

    monkeypatch.setattr(local_edit, "mask_from_alpha", decoded)
    key = embedded.new_key()
    answer = embedded.client.post(
        f"{API}/edit",
        headers=auth(key),
        files={"image": ("big.png", png(7000, 7000, "RGBA"), "image/png")},
        data={"operation": "inpaint", "prompt": "a vase"},
    )
    assert answer.status_code == 413, answer.text
    problem = answer.json()
    assert problem["type"] == PROBLEM and problem["pixels"] == 49_000_000
    assert problem["limit"] == memory.pixel_budget("edit.inpaint", get_settings()) < 49_000_000
    assert jobs() == 0


def test_an_animation_counts_every_frame(small_workers: Embedded) -> None:
    """30 frames of 200x200 are 1.2 MP of work for compress: over a one-megapixel budget."""
    frames = [Image.new("RGB", (200, 200), (8 * i, 100, 200)) for i in range(30)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=40)
    key = small_workers.new_key()
    answer = small_workers.client.post(
        f"{API}/compress", headers=auth(key), files={"image": ("a.gif", out.getvalue(), "image/gif")}
    )
    assert answer.status_code == 413, answer.text
    assert_over_budget(answer.json(), pixels=30 * 200 * 200)
    # Sent once as an upload, then named in JSON (the size comes from the upload's row): the same.
    created = small_workers.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.gif", out.getvalue(), "image/gif")}
    )
    assert created.status_code == 201, created.text
    named = small_workers.client.post(
        f"{API}/compress", headers=auth(key), json={"image": created.json()["id"]}
    )
    assert named.status_code == 413, named.text
    assert_over_budget(named.json(), pixels=30 * 200 * 200)
    assert jobs() == 0
