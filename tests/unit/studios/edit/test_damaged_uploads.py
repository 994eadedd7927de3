"""Damaged uploads: the gateway accepts them from their header, the worker's one decode fails the job.

Truncated and corrupt files pass the header check with 202; the job then fails with an
``invalid-image`` problem naming the field, before any provider sees the bytes, on the first
delivery (never retried), its held credits released and ``job.failed`` sent to its webhook.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edit_support import Studio, png, studio_stack
from PIL import Image
from support import Embedded, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "webhooks"))  # the loopback receiver

from webhook_receiver import Receiver  # noqa: E402

API = "/api/image-studio"


def noise(width: int, height: int, fmt: str) -> bytes:
    """Incompressible pixels, so the second half of the file is pixel data, not padding."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def truncated_jpeg(width: int = 256, height: int = 192) -> bytes:
    """A JPEG with a sound header and its data cut in half."""
    data = noise(width, height, "JPEG")
    return data[: len(data) // 2]


def corrupt_png(width: int = 320, height: int = 256) -> bytes:
    """A PNG with a sound header whose compressed pixel data has 64 bytes flipped."""
    data = bytearray(noise(width, height, "PNG"))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    return bytes(data)


@pytest.fixture
def hooked_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Simulated providers, and webhooks allowed to reach a receiver on loopback."""
    yield from studio_stack(
        embedded,
        monkeypatch,
        providers=True,
        IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK="true",
        IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS="[0, 0.01, 0.01]",
        IMAGESTUDIO_WEBHOOK_TIMEOUT_SECONDS="5",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def credits(studio: Studio) -> dict[str, Any]:
    response = studio.embedded.client.get(f"{API}/credits", params={"limit": 200}, headers=studio.headers())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def ledger_kinds(studio: Studio, job_id: str) -> dict[str, int]:
    """Reserved credits moved per ledger entry kind for one job."""
    moved: dict[str, int] = {}
    for entry in credits(studio)["entries"]:
        if entry["job_id"] == job_id:
            moved[entry["kind"]] = moved.get(entry["kind"], 0) + entry["reserved_delta"]
    return moved


@pytest.mark.parametrize(
    ("route", "data", "files", "field", "provider_path"),
    [
        (
            "upscale",
            {"mode": "fast", "path": "provider"},
            {"image": truncated_jpeg()},
            "image",
            "/upscale/fast",
        ),
        (
            "upscale",
            {"mode": "conservative", "path": "provider"},
            {"image": corrupt_png()},
            "image",
            "/upscale/conservative",
        ),
        (
            "edit",
            {
                "operation": "search_replace",
                "path": "provider",
                "prompt": "a dog",
                "search_prompt": "the cat",
            },
            {"image": truncated_jpeg()},
            "image",
            "/edit/search-and-replace",
        ),
        (
            "edit",
            {"operation": "inpaint", "path": "provider", "prompt": "tulips"},
            {"image": png(), "mask": corrupt_png()},
            "mask",
            "/edit/inpaint",
        ),
    ],
    ids=["upscale-truncated-jpeg", "upscale-corrupt-png", "edit-truncated-jpeg", "edit-corrupt-mask"],
)
def test_a_damaged_upload_is_accepted_then_its_paid_job_fails_invalid_image_releasing_its_credits(
    hooked_studio: Studio,
    receiver: Receiver,
    route: str,
    data: dict[str, Any],
    files: dict[str, bytes],
    field: str,
    provider_path: str,
) -> None:
    studio = hooked_studio
    stability = studio.sims["stability"]
    before = credits(studio)

    response = studio.post(
        route, {**data, "webhook_url": receiver.url, "webhook_events": "job.failed"}, files
    )
    assert response.status_code == 202, response.text  # the header is sound: the gateway accepts it
    accepted = response.json()
    assert accepted["params"]["estimated_credits"] > 0  # a paid route: credits are held for it
    job = studio.embedded.wait_job(studio.key, accepted["id"])

    assert job["status"] == "failed", job
    error = job["error"]
    assert error["type"] == "https://imagestudio.dev/problems/invalid-image"
    assert error["title"] == "Invalid image" and error["status"] == 422
    assert error["field"] == field and error["detail"].startswith(f"{field}: ")
    assert "truncated or corrupt" in error["detail"]
    assert error["attempts"] == 1  # permanent: failed on the first delivery, not retried
    assert stability.calls.count(provider_path) == 0  # the damaged bytes never reached the provider

    after = credits(studio)
    assert (after["balance"], after["reserved"]) == (before["balance"], before["reserved"])
    held = ledger_kinds(studio, job["id"])
    assert held.get("reserve", 0) == accepted["params"]["estimated_credits"]
    assert held.get("release", 0) == -held["reserve"] and "capture" not in held

    wait_for(lambda: receiver.requests, what="the job.failed webhook")
    (event,) = [r.json for r in receiver.requests]
    assert event["type"] == "job.failed" and event["data"]["id"] == job["id"]
    assert (
        event["data"]["error"]["type"].endswith("/invalid-image") and event["data"]["error"]["field"] == field
    )


@pytest.mark.parametrize(
    ("route", "data", "files", "field"),
    [
        ("upscale", {"mode": "fast", "path": "local"}, {"image": truncated_jpeg()}, "image"),
        ("edit", {"operation": "outpaint", "path": "local", "left": 32}, {"image": corrupt_png()}, "image"),
        ("edit", {"operation": "erase", "path": "local"}, {"image": png(), "mask": corrupt_png()}, "mask"),
    ],
    ids=["upscale-truncated-jpeg", "edit-corrupt-png", "edit-corrupt-mask"],
)
def test_a_damaged_upload_fails_its_local_job_invalid_image_on_the_first_delivery(
    local_studio: Studio, route: str, data: dict[str, Any], files: dict[str, bytes], field: str
) -> None:
    job = local_studio.run(route, data, files)

    assert job["status"] == "failed", job
    error = job["error"]
    assert error["type"].endswith("/invalid-image") and error["field"] == field
    assert error["attempts"] == 1


def test_a_damaged_upload_falls_through_no_provider_and_no_fallback(hooked_studio: Studio) -> None:
    """auto with a provider then a local route: the decode fails the job; neither route serves it."""
    studio = hooked_studio
    job = studio.run("upscale", {"mode": "fast"}, {"image": truncated_jpeg()})

    assert [r["provider"] for r in job["params"]["routes"]] == ["stability", "local"]
    assert job["status"] == "failed" and job["error"]["type"].endswith("/invalid-image")
    assert job["outputs"] == [] and studio.sims["stability"].calls.count("/upscale/") == 0
