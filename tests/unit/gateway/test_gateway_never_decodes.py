"""The gateway decides from headers and upload rows: it never decodes pixels nor reads stored uploads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from edit_support import Studio, studio_stack
from PIL import Image
from support import Embedded

from imagestudio.imaging import edit as local_edit
from imagestudio.storage import get_store

API = "/api/image-studio"


def opaque_rgba_png(width: int = 256, height: int = 192) -> bytes:
    """An RGBA PNG whose every pixel is opaque: an alpha channel with nothing to fill."""
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (90, 140, 200, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def pages(fmt: str, count: int) -> bytes:
    """A TIFF (pages) or GIF (frames) of ``count`` one-pixel images."""
    frames = [Image.new("L", (1, 1), (i % 2) * 255) for i in range(count)]  # no two alike in a row
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def no_decoding(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the gateway decoded pixels")


@pytest.fixture
def local_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    yield from studio_stack(embedded, monkeypatch, providers=False)


def _credits(studio: Studio) -> tuple[int, int]:
    body = studio.get("/credits").json()
    return body["balance"], body["reserved"]


def test_inpaint_of_an_opaque_rgba_image_is_decided_in_the_worker_not_the_gateway(
    local_studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's 7000x7000 opaque RGBA inpaint cost the gateway 8 s and 400 MB: it decodes nothing now."""
    studio = local_studio
    before = _credits(studio)
    with monkeypatch.context() as gateway:
        gateway.setattr(local_edit, "mask_from_alpha", no_decoding)
        gateway.setattr(local_edit, "decode", no_decoding)
        response = studio.post(
            "edit", {"operation": "inpaint", "path": "local"}, {"image": opaque_rgba_png()}
        )
    assert response.status_code == 202, response.text
    assert response.json()["params"]["area"] == "alpha"  # from the header's alpha channel

    job = studio.embedded.wait_job(studio.key, response.json()["id"])
    assert job["status"] == "failed" and job["outputs"] == []
    error = job["error"]
    assert error["field"] == "mask" and "opaque" in error["detail"] and error["attempts"] == 1
    assert _credits(studio) == before
    # Without an alpha channel the header alone decides: still refused at once.
    refused = studio.post("edit", {"operation": "inpaint", "path": "local"}, {"image": _rgb()})
    assert refused.status_code == 422 and refused.json()["field"] == "mask"


def _rgb() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_provider_request_sizes_come_from_upload_rows_not_from_reading_objects(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = studio.embedded.client.post(
        f"{API}/uploads", headers=studio.headers(), files={"file": ("a.png", opaque_rgba_png(), "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    store = get_store()
    with monkeypatch.context() as gateway:
        gateway.setattr(store, "get", no_decoding)
        response = studio.embedded.client.post(
            f"{API}/edit",
            headers=studio.headers(),
            json={"operation": "remove_background", "path": "provider", "image": uploaded.json()["id"]},
        )
    assert response.status_code == 202, response.text
    assert studio.embedded.wait_job(studio.key, response.json()["id"])["status"] == "succeeded"


@pytest.mark.parametrize("fmt", ["TIFF", "GIF"])
def test_thousands_of_tiny_pages_or_frames_are_refused_from_the_header(embedded: Embedded, fmt: str) -> None:
    """A TIFF of 100,000 one-pixel pages passed every pixel limit and took libtiff seconds to count."""
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("many", pages(fmt, 1001), "application/octet-stream")},
    )
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["type"].endswith("/image-too-large") and body["field"] == "file"
    assert "1,000 frames or pages" in body["detail"]
    fine = embedded.client.post(
        f"{API}/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("some", pages(fmt, 20), "application/octet-stream")},
    )
    assert fine.status_code == 201, fine.text
