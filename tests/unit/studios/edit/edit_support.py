"""Helpers of the edit and upscale unit tests: the embedded stack with its workers and in-process simulators."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image, ImageDraw
from support import Embedded, make_image, reload_settings, simulated_providers

from simulators import StabilitySimulator, WaveSpeedSimulator

API = "/api/image-studio"

#: Worker tuning for tests: short waits and polls, two attempts per provider call.
FAST_ENV = {
    "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.01",
    "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
    "IMAGESTUDIO_PROVIDER_MAX_ATTEMPTS": "2",
    "IMAGESTUDIO_PROVIDER_TIMEOUT_SECONDS": "20",
    "IMAGESTUDIO_ASYNC_POLL_INTERVAL_SECONDS": "0.05",
}


@dataclass
class Studio:
    """The embedded stack, a tenant key, and the simulators (none: no provider is configured)."""

    embedded: Embedded
    key: str
    sims: dict[str, Any] = field(default_factory=dict)

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post(
        self, route: str, data: dict[str, Any], files: dict[str, bytes], *, key: str | None = None
    ) -> Any:
        multipart = {
            name: (f"{name}.png", content, "application/octet-stream") for name, content in files.items()
        }
        form = {name: str(value) for name, value in data.items() if value is not None}
        return self.embedded.client.post(
            f"{API}/{route}", data=form, files=multipart, headers=self.headers(key)
        )

    def submit(self, route: str, data: dict[str, Any], files: dict[str, bytes], **kw: Any) -> dict[str, Any]:
        response = self.post(route, data, files, **kw)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def run(self, route: str, data: dict[str, Any], files: dict[str, bytes], **kw: Any) -> dict[str, Any]:
        """Submit and wait for the job to finish."""
        job = self.submit(route, data, files, **kw)
        return self.embedded.wait_job(kw.get("key") or self.key, job["id"])

    def get(self, path: str, **params: Any) -> Any:
        return self.embedded.client.get(f"{API}{path}", params=params, headers=self.headers())

    def estimate(self, studio: str, params: dict[str, Any]) -> Any:
        """``POST /estimate-cost`` for one job of ``studio``; the response."""
        return self.embedded.client.post(
            f"{API}/estimate-cost", json={"studio": studio, "params": params}, headers=self.headers()
        )

    def charged(self, job_id: str) -> int:
        """Credits the ledger captured for one job (the GET /credits view of it)."""
        entries = self.get("/credits", limit=200).json()["entries"]
        return -sum(e["balance_delta"] for e in entries if e["job_id"] == job_id and e["kind"] == "capture")

    def nothing_stored(self) -> None:
        """No job, no outbox message and no object exists (what a refused request must leave)."""
        from sqlalchemy import func, select

        from imagestudio.db import session_scope
        from imagestudio.jobs.models import Job
        from imagestudio.outbox import OutboxMessage

        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 0
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        objects = self.embedded.data_dir / "objects"
        assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


def studio_stack(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch, *, providers: bool, threads: int = 2, **env: str
) -> Iterator[Studio]:
    """Start the edit, upscale and control workers on the embedded broker, with or without simulated providers."""
    import control_worker.main  # noqa: F401
    import edit_worker.main  # noqa: F401  (declares edit.run_job and edit.poll on the stub broker)
    import upscale_worker.main  # noqa: F401
    from imagestudio.config import get_settings

    for name, value in {**FAST_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # settings only: the engine and store stay the fixture's
    sims: dict[str, Any] = {}
    if providers:
        sims = {"stability": StabilitySimulator(), "wavespeed": WaveSpeedSimulator(in_progress_polls=1)}
    try:
        with simulated_providers(embedded, sims, threads=threads):
            yield Studio(embedded, embedded.new_key(), sims)
    finally:
        reload_settings()


# --- images --------------------------------------------------------------------------------------


def open_circuit(provider: str) -> None:
    """Record failures until ``provider``'s circuit is open."""
    from imagestudio.providers.health import breaker_for

    breaker = breaker_for(provider)
    while breaker.health()["state"] != "open":
        breaker.record_failure()


def png(width: int = 320, height: int = 256) -> bytes:
    return make_image(width, height)


def mask_png(width: int = 320, height: int = 256, box: tuple[int, int, int, int] | None = None) -> bytes:
    """Black with a white rectangle (default: the middle third)."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle(
        box or (width // 3, height // 3, 2 * width // 3, 2 * height // 3), fill=255
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def product_png(width: int = 320, height: int = 256, *, transparent_hole: bool = False) -> bytes:
    """A red subject on a plain light backdrop; optionally RGBA with a transparent patch to fill."""
    image = Image.new("RGBA", (width, height), (235, 235, 230, 255))
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(200, 30, 40, 255)
    )
    if transparent_hole:
        ImageDraw.Draw(image).rectangle((10, 10, 40, 40), fill=(0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def flat_png(width: int, height: int) -> bytes:
    """A plain grey PNG, quick to make at any size."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """Incompressible pixels: a PNG about 3 bytes per pixel (for byte-limit tests)."""
    import os

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def output_bytes(studio: Studio, job: dict[str, Any], name: str) -> bytes:
    [output] = [o for o in job["outputs"] if o["name"] == name]
    response = studio.embedded.client.get(output["url"])
    assert response.status_code == 200, response.text
    return response.content


# Fixtures the edit, upscale and control conftests import (each adds its own variants).


@pytest.fixture
def studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Stability and WaveSpeed reached through in-process SIMULATORS."""
    yield from studio_stack(embedded, monkeypatch, providers=True)


@pytest.fixture
def local_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """No provider configured: only the local paths can serve."""
    yield from studio_stack(embedded, monkeypatch, providers=False)
