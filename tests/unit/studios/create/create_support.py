"""Helpers of the create-studio unit tests: the embedded stack plus in-process simulators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from support import Embedded

from imagestudio.providers.execution import BatchSpec
from imagestudio.providers.selection import plan
from simulators import (
    GeminiSimulator,
    HuggingFaceSimulator,
    StabilitySimulator,
    WaveSpeedSimulator,
)

API = "/api/image-studio"
Simulator = StabilitySimulator | WaveSpeedSimulator | HuggingFaceSimulator | GeminiSimulator


def batch_spec(provider: str, *, count_ratio: float = 1.0, **plan_args: Any) -> BatchSpec:
    """A standard-quality batch of "a lighthouse" on what ``plan`` offers for ``provider``."""
    return BatchSpec(
        prompt="a lighthouse",
        styled_prompt="a lighthouse",
        negative_prompt=None,
        style_preset=None,
        output_format="png",
        quality="standard",
        ratio=count_ratio,
        seed=7,
        candidates=plan(quality="standard", ratio=count_ratio, provider=provider, **plan_args),
    )


@dataclass
class CreateStack:
    """The embedded stack, a tenant key and the four simulators (no sockets: in-process transports)."""

    embedded: Embedded
    key: str
    sims: dict[str, Simulator]

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post(self, body: dict[str, Any], *, key: str | None = None) -> Any:
        return self.embedded.client.post(f"{API}/create", json=body, headers=self.headers(key))

    def submit(self, body: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        response = self.post(body, key=key)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def run(self, body: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Submit, let the worker run it, and return the finished job."""
        job = self.submit(body, key=key)
        return self.embedded.wait_job(key or self.key, job["id"])

    def get(self, path: str, **params: Any) -> Any:
        return self.embedded.client.get(f"{API}{path}", params=params, headers=self.headers())
