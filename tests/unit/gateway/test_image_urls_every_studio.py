"""Images by URL in every studio: held at the request's estimate, prepared and re-priced by the worker.

Each studio's job is run twice on the embedded stack, once naming its images by URL (a loopback
server in this process) and once by upload id: the URL job must succeed with the same outputs and
be charged exactly what the upload job is, holding nothing after. Failures (a refused address
reached by a redirect, an unreachable URL, an image the studio's provider limits refuse) end the
job with a problem naming the field and release everything held.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from edit_support import mask_png, png
from image_url_support import MAX_BYTES, ImageServer
from PIL import Image
from support import Embedded, every_simulator, reload_settings, simulated_providers

from imagestudio.db import session_scope
from imagestudio.jobs.models import IMAGE_URLS, UNPREPARED_REQUEST, Job

API = "/api/image-studio"


@pytest.fixture
def stack(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    """Every studio's worker on the embedded broker, every provider an in-process simulator."""
    import compress_worker.main  # noqa: F401  (declares each studio's actors on the stub broker)
    import control_worker.main  # noqa: F401
    import create_worker.main  # noqa: F401
    import edit_worker.main  # noqa: F401
    import upscale_worker.main  # noqa: F401
    from imagestudio.config import get_settings

    for name, value in {
        "IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK": "true",
        "IMAGESTUDIO_REMOTE_IMAGE_TIMEOUT_SECONDS": "2",
        "IMAGESTUDIO_MAX_UPLOAD_BYTES": str(MAX_BYTES),
        "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.01",
        "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
        "IMAGESTUDIO_PROVIDER_POLL_INTERVAL_SECONDS": "0.01",
        "IMAGESTUDIO_ASYNC_POLL_INTERVAL_SECONDS": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # settings only: the engine and store stay the fixture's
    try:
        with simulated_providers(embedded, every_simulator()):
            yield embedded
    finally:
        reload_settings()


def serve(name: str, data: bytes) -> str:
    ImageServer.served[name] = data
    return f"/served/{name}"


def flat(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


#: Each studio's request: its route, its fields, and its images (by field) as bytes to serve.
CASES: dict[str, tuple[str, dict[str, Any], dict[str, bytes]]] = {
    "create": ("create", {"prompt": "a fox in the snow", "seed": 7, "strength": 0.4}, {"init_image": png()}),
    "edit": (
        "edit",
        {"operation": "inpaint", "prompt": "a vase", "path": "provider"},
        {"image": png(), "mask": mask_png()},
    ),
    "upscale": ("upscale", {"path": "local", "mode": "fast"}, {"image": png(64, 48)}),
    "control": ("control", {"operation": "sketch", "prompt": "a barn at dusk"}, {"image": png()}),
    "compress": ("compress", {"quality": 70}, {"image": png()}),
    "convert": ("convert", {"format": "webp"}, {"image": png()}),
    "social": ("social/optimize", {"formats": ["instagram.feed_square"]}, {"image": png()}),
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(stack: Embedded, key: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.post(f"{API}/{route}", headers=auth(key), json=body)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(stack: Embedded, key: str, data: bytes) -> str:
    response = stack.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("in.png", data, "image/png")}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def credits(stack: Embedded, key: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.client.get(f"{API}/credits", params={"limit": 200}, headers=auth(key)).json()
    return body


def charged(stack: Embedded, key: str, job_id: str) -> int:
    entries = credits(stack, key)["entries"]
    return -sum(e["balance_delta"] for e in entries if e["job_id"] == job_id and e["kind"] == "capture")


def outputs(job: dict[str, Any]) -> list[tuple[str, int | None, int | None]]:
    return sorted((o["name"], o["width"], o["height"]) for o in job["outputs"])


@pytest.mark.parametrize("studio", list(CASES))
def test_a_url_job_of_every_studio_runs_and_is_charged_as_the_upload_job(
    stack: Embedded, server: str, studio: str
) -> None:
    route, fields, images = CASES[studio]
    key = stack.new_key()
    urls = {name: f"{server}{serve(f'{studio}-{name}.png', data)}" for name, data in images.items()}
    by_url = stack.wait_job(key, submit(stack, key, route, {**fields, **urls})["id"])
    ids = {name: upload(stack, key, data) for name, data in images.items()}
    by_upload = stack.wait_job(key, submit(stack, key, route, {**fields, **ids})["id"])

    assert by_url["status"] == by_upload["status"] == "succeeded", (by_url, by_upload)
    assert outputs(by_url) == outputs(by_upload)
    # Recorded in the params, which are the prepared ones (the request as given is gone).
    assert by_url["params"][IMAGE_URLS] == urls
    assert UNPREPARED_REQUEST not in by_url["params"]
    assert by_url["params"].keys() - {IMAGE_URLS} == by_upload["params"].keys()
    assert charged(stack, key, by_url["id"]) == charged(stack, key, by_upload["id"])
    assert credits(stack, key)["reserved"] == 0


def test_a_batch_entry_takes_a_url_in_every_studio(stack: Embedded, server: str) -> None:
    key = stack.new_key()
    entries = [
        {
            "studio": route.split("/")[0],
            "params": {
                **fields,
                **{
                    name: f"{server}{serve(f'batch-{studio}-{name}.png', data)}"
                    for name, data in images.items()
                },
            },
        }
        for studio, (route, fields, images) in CASES.items()
    ]
    response = stack.client.post(f"{API}/jobs/batch", headers=auth(key), json={"jobs": entries})
    assert response.status_code == 200, response.text
    for entry in response.json()["jobs"]:
        assert "job" in entry, entry
        assert stack.wait_job(key, entry["job"]["id"])["status"] == "succeeded"
    assert credits(stack, key)["reserved"] == 0


@pytest.mark.parametrize(("size", "served_by"), [((2100, 2000), "stability"), ((48, 40), "local")])
def test_the_gateway_holds_the_estimate_and_the_worker_brings_it_to_the_real_price(
    stack: Embedded, server: str, size: tuple[int, int], served_by: str
) -> None:
    """Conservative upscale on ``auto``: without the image the request may take the provider, so
    the gateway holds its price (the estimate's ``max_credits``). Once fetched, a 4 MP image is
    past the local path's limit and the provider serves it; one under the provider's 64-pixel
    side is served by the local path alone, its hold released before it runs."""
    key = stack.new_key()
    assert stack.worker is not None
    stack.worker.stop()  # the job stays queued while its hold is read
    stack.worker = None
    body = {"image": f"{server}{serve(f'conservative-{size[0]}.png', flat(*size))}", "mode": "conservative"}
    estimate = stack.client.post(
        f"{API}/estimate-cost", headers=auth(key), json={"studio": "upscale", "params": body}
    ).json()
    job = submit(stack, key, "upscale", body)
    assert estimate["max_credits"] > 0
    assert credits(stack, key)["reserved"] == estimate["max_credits"]
    with session_scope() as session:
        row = session.get(Job, job["id"])
        assert row is not None and row.params[UNPREPARED_REQUEST]["fields"]["mode"] == "conservative"
    stack.start_worker()
    finished = stack.wait_job(key, job["id"])
    assert finished["status"] == "succeeded", finished
    [route] = finished["params"]["routes"]
    assert route["provider"] == served_by
    assert charged(stack, key, job["id"]) == route["credits"]
    released = [
        e for e in credits(stack, key)["entries"] if e["job_id"] == job["id"] and e["kind"] == "release"
    ]
    # Lowered once, when prepared, to the price; nothing left for the job's end to release.
    assert [e["reserved_delta"] for e in released] == (
        [route["credits"] - estimate["max_credits"]] if route["credits"] < estimate["max_credits"] else []
    )
    assert credits(stack, key)["reserved"] == 0


@pytest.mark.parametrize(
    ("path", "problem_type"),
    [
        ("/to-private", "remote-image-refused"),  # a redirect to 10.0.0.1
        ("/to-metadata", "remote-image-refused"),  # a redirect to 169.254.169.254
        ("/missing", "remote-image-unreachable"),
        ("/slow", "remote-image-unreachable"),  # past the time cap
        ("/huge", "image-too-large"),  # past the byte cap, no length declared
        ("/text", "invalid-image"),
    ],
)
def test_a_failed_fetch_of_a_paid_job_releases_its_hold(
    stack: Embedded, server: str, path: str, problem_type: str
) -> None:
    key = stack.new_key()
    body = {"operation": "inpaint", "prompt": "a vase", "path": "provider", "image": f"{server}{path}"}
    body["mask"] = f"{server}{serve('mask.png', mask_png())}"
    job = submit(stack, key, "edit", body)
    finished = stack.wait_job(key, job["id"])
    assert finished["status"] == "failed", finished
    assert finished["error"]["type"].endswith(f"/{problem_type}") and finished["error"]["field"] == "image"
    assert charged(stack, key, job["id"]) == 0
    entries = [e for e in credits(stack, key)["entries"] if e["job_id"] == job["id"]]
    assert sum(e["reserved_delta"] for e in entries) == 0
    assert any(e["kind"] == "reserve" and e["reserved_delta"] > 0 for e in entries)  # it was paid
    assert credits(stack, key)["reserved"] == 0


def test_a_refusal_only_the_header_shows_fails_the_job_with_the_gateways_problem(
    stack: Embedded, server: str
) -> None:
    """An image the upload route would refuse at submission (a mask of another size) fails the URL
    job in the worker with the same problem, nothing charged or held."""
    key = stack.new_key()
    body = {
        "operation": "inpaint",
        "prompt": "a vase",
        "path": "provider",
        "image": f"{server}{serve('photo-320.png', png())}",
        "mask": f"{server}{serve('mask-200.png', mask_png(200, 160))}",
    }
    finished = stack.wait_job(key, submit(stack, key, "edit", body)["id"])
    assert finished["status"] == "failed", finished
    assert finished["error"]["field"] == "mask" and "200x160" in finished["error"]["detail"]
    assert credits(stack, key)["reserved"] == 0 and charged(stack, key, finished["id"]) == 0
