"""On PostgreSQL, for every studio: POST /estimate-cost equals what the ledger captures for the job.

The gateway runs in-process on the real database and S3 bucket; the create, edit, upscale, social and
control workers consume the in-process broker; providers are the labelled simulators, reached in-process.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from support import Embedded, every_simulator, make_image, reload_settings, simulated_providers, use_settings

pytestmark = pytest.mark.integration

API = "/api/image-studio"


@pytest.fixture
def priced(pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Embedded, str]]:
    import control_worker.main  # noqa: F401
    import create_worker.main  # noqa: F401  (declare the studios' actors on the session's stub broker)
    import edit_worker.main  # noqa: F401
    import upscale_worker.main  # noqa: F401

    use_settings(
        monkeypatch,
        IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS="0.01",
        IMAGESTUDIO_ASYNC_POLL_INTERVAL_SECONDS="0.05",
    )
    sims = every_simulator()
    try:
        with simulated_providers(pg_stack, sims):
            yield pg_stack, pg_stack.new_key(tier="pro")
    finally:
        reload_settings()


def png(width: int = 320, height: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(make_image(width, height))).save(buf, "PNG")
    return buf.getvalue()


def captured(stack: Embedded, key: str, job_id: str) -> int:
    entries = stack.client.get(
        f"{API}/credits", params={"limit": 200}, headers={"Authorization": f"Bearer {key}"}
    ).json()["entries"]
    return -sum(e["balance_delta"] for e in entries if e["job_id"] == job_id and e["kind"] == "capture")


CASES: list[tuple[str, dict[str, Any], bool]] = [
    (
        "create",
        {"prompt": "a lighthouse at dawn", "count": 3, "provider": "stability", "quality": "standard"},
        False,
    ),
    ("create", {"prompt": "a red bicycle", "count": 2, "provider": "gemini", "quality": "draft"}, False),
    # auto: the first choice is charged; the reserve holds the dearest fallback (max_credits)
    ("create", {"prompt": "a harbour at night", "count": 4, "quality": "standard"}, False),
    # image-to-image, estimated naming an upload id, submitted with the file; at the model's usual price
    (
        "create",
        {"prompt": "a fox", "count": 2, "strength": 0.0, "quality": "premium", "init_image": "upl_a"},
        True,
    ),
    ("edit", {"operation": "remove_background", "path": "provider"}, True),
    ("edit", {"operation": "inpaint", "path": "local"}, True),
    ("upscale", {"mode": "fast", "path": "provider"}, True),
    ("social", {"platforms": "youtube"}, True),
    ("control", {"operation": "sketch", "prompt": "a barn", "provider": "stability"}, True),
    # auto: Stability is planned first and charged; the reserve holds the dearest (itself here)
    ("control", {"operation": "structure", "prompt": "a tower"}, True),
    ("control", {"operation": "style", "prompt": "a fox", "provider": "wavespeed"}, True),
]


@pytest.mark.parametrize(
    ("studio", "params", "upload"), CASES, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(CASES)]
)
def test_estimate_equals_the_charge(
    priced: tuple[Embedded, str], studio: str, params: dict[str, Any], upload: bool
) -> None:
    stack, key = priced
    headers = {"Authorization": f"Bearer {key}"}
    estimate = stack.client.post(
        f"{API}/estimate-cost", headers=headers, json={"studio": studio, "params": params}
    )
    assert estimate.status_code == 200, estimate.text
    route = "social/optimize" if studio == "social" else studio
    if upload:
        field = "init_image" if studio == "create" else "image"
        files: dict[str, Any] = {
            field: ("in.png", png(128, 96) if studio == "upscale" else png(), "image/png")
        }
        if params.get("operation") == "inpaint":
            mask = Image.new("L", (320, 256))
            mask.paste(255, (100, 100, 160, 160))
            buf = io.BytesIO()
            mask.save(buf, "PNG")
            files["mask"] = ("mask.png", buf.getvalue(), "image/png")
        form = {name: value for name, value in params.items() if name != "init_image"}  # sent as a file
        response = stack.client.post(f"{API}/{route}", headers=headers, data=form, files=files)
    else:
        response = stack.client.post(f"{API}/{route}", headers=headers, json=params)
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, response.json()["id"], timeout=90)
    assert job["status"] == "succeeded", job
    total = estimate.json()["total_credits"]
    paid = studio in ("create", "control") or params.get("path") == "provider"
    assert (total > 0) == paid  # provider work costs credits; local pixel work does not
    assert captured(stack, key, job["id"]) == total
    held = job["params"].get("estimated_credits", 0)  # social stores none: it is free
    assert estimate.json()["max_credits"] == held >= total  # what the job reserved while it ran
    balance = stack.client.get(f"{API}/credits", headers=headers).json()
    assert balance["reserved"] == 0  # the rest of every reserve was released
