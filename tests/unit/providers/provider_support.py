"""Shared cases and helpers for the provider client tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from imagestudio.providers import (
    GeminiClient,
    GenerationRequest,
    HttpProvider,
    HuggingFaceClient,
    StabilityClient,
    WaveSpeedClient,
)
from simulators import (
    GeminiSimulator,
    HuggingFaceSimulator,
    InProcessTransport,
    StabilitySimulator,
    WaveSpeedSimulator,
)

Simulator = StabilitySimulator | WaveSpeedSimulator | HuggingFaceSimulator | GeminiSimulator


@dataclass(frozen=True)
class Case:
    """One provider: how to make its simulator and client, and a typical request."""

    name: str
    make_simulator: Callable[[], Simulator]
    client_class: type[HttpProvider]
    #: Substring of the path the generation call goes to (for counting calls).
    generate_path: str
    request: GenerationRequest


CASES: dict[str, Case] = {
    "stability": Case(
        "stability",
        StabilitySimulator,
        StabilityClient,
        "/v2beta/stable-image/generate/core",
        GenerationRequest(prompt="a lighthouse at dawn", model="core", seed=7, aspect_ratio="16:9"),
    ),
    "wavespeed": Case(
        "wavespeed",
        lambda: WaveSpeedSimulator(in_progress_polls=0),
        WaveSpeedClient,
        "/api/v3/wavespeed-ai/qwen-image/text-to-image",
        GenerationRequest(prompt="a lighthouse at dawn", model="qwen-image", seed=7, aspect_ratio="16:9"),
    ),
    "huggingface": Case(
        "huggingface",
        HuggingFaceSimulator,
        HuggingFaceClient,
        "/fal-ai/fal-ai/flux/schnell",
        GenerationRequest(
            prompt="a lighthouse at dawn",
            model="black-forest-labs/FLUX.1-schnell",
            seed=7,
            width=512,
            height=288,
        ),
    ),
    "gemini": Case(
        "gemini",
        GeminiSimulator,
        GeminiClient,
        "/v1beta/models/gemini-3.1-flash-image:generateContent",
        GenerationRequest(prompt="a lighthouse at dawn", model="gemini-3.1-flash-image", aspect_ratio="16:9"),
    ),
}


class Recording(httpx.BaseTransport):
    """Forwards to another transport and keeps every request (body read) for assertions."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Env:
    case: Case
    sim: Any
    client: Any
    #: The in-process transport, recording requests (``None`` over loopback).
    transport: Recording | None = None


def png(width: int = 128, height: int = 96, colour: tuple[int, int, int] = (20, 180, 40)) -> bytes:
    """A small PNG with a distinct centre, for uploads."""
    image = Image.new("RGB", (width, height), colour)
    image.paste((250, 250, 250), (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def in_process(
    case: Case, *, sim: Simulator | None = None, api_key: str | None = None, **options: Any
) -> Env:
    """A client wired to a (fresh) simulator through ``InProcessTransport`` (no socket)."""
    sim = sim or case.make_simulator()
    options.setdefault("timeout", 10.0)
    transport = Recording(InProcessTransport(sim.app))
    client = case.client_class(
        api_key=api_key or sim.api_key, base_url=f"http://{case.name}.sim", transport=transport, **options
    )
    return Env(case, sim, client, transport)


def serving(case: Case, *, sim: Simulator | None = None) -> Iterator[Env]:
    """``in_process`` for a fixture to ``yield from``: the environment, its client closed after the test."""
    environment = in_process(case, sim=sim)
    yield environment
    environment.client.close()


def google_error(code: int, message: str, status: str, *details: dict[str, str]) -> dict[str, Any]:
    """A Google API error body (``google.rpc.Status`` in an ``error`` object), ``details`` typed
    ``type.googleapis.com/google.rpc.<name>`` by their ``"@type"`` short name."""
    typed = [{**d, "@type": f"type.googleapis.com/google.rpc.{d['@type']}"} for d in details]
    return {"error": {"code": code, "message": message, "status": status, "details": typed}}
