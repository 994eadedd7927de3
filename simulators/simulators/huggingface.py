"""SIMULATOR of Hugging Face inference text-to-image: ``POST /models/{model_id}`` answering image bytes.

Same path, ``Bearer`` check, JSON ``{inputs, parameters}`` body, raw-bytes answer and the cold
model ``503 {"error": "... is currently loading", "estimated_time": N}`` as the real API, every
answer labelled ``X-Simulator: huggingface-simulator``. It never contacts huggingface.co.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from simulators import render
from simulators.faults import SimulatorHarness

__all__ = ["HuggingFaceSimulator"]

#: Text-to-image models the simulator serves.
MODELS = frozenset({
    "black-forest-labs/FLUX.1-schnell",
    "black-forest-labs/FLUX.1-dev",
    "black-forest-labs/FLUX.1-Krea-dev",
    "stabilityai/stable-diffusion-xl-base-1.0",
})  # fmt: skip


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class HuggingFaceSimulator:
    """A SIMULATOR of Hugging Face inference; ``app`` is the ASGI app to serve.

    ``cold_models`` maps a model id to the ``estimated_time`` its first request answers with
    (503 loading); it is warm afterwards. A fault with ``estimated_time`` does the same once.
    """

    def __init__(
        self, *, api_key: str = "sim-huggingface-key", cold_models: Mapping[str, float] | None = None
    ) -> None:
        self.api_key = api_key
        self._cold = dict(cold_models or {})
        self._cold_lock = threading.Lock()
        self.harness = SimulatorHarness(
            "huggingface", description="Hugging Face inference API", real_host="huggingface.co"
        )
        self.faults = self.harness.faults
        self.calls = self.harness.calls
        self.app = self._build()

    def _build(self) -> FastAPI:
        app = FastAPI(
            title="Hugging Face inference SIMULATOR", docs_url=None, redoc_url=None, openapi_url=None
        )
        self.harness.install(app)
        app.add_api_route("/models/{model_id:path}", self._infer, methods=["POST"])
        return app

    def _warm_up(self, model_id: str) -> float | None:
        """The loading estimate when ``model_id`` is still cold (and mark it warm)."""
        with self._cold_lock:
            return self._cold.pop(model_id, None)

    async def _infer(self, model_id: str, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid credentials in Authorization header")
        fault = await self.harness.begin(request)
        if fault is not None:
            if fault.estimated_time is not None:
                return self._loading(model_id, fault.estimated_time)
            scripted = self.harness.error_response(fault, lambda status, message: {"error": message})
            if scripted is not None:
                return scripted
        if model_id not in MODELS:
            return _error(404, f"Model {model_id} does not exist")
        if (estimate := self._warm_up(model_id)) is not None:
            return self._loading(model_id, estimate)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Request body must be JSON")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("inputs"), str)
            or not body["inputs"].strip()
        ):
            return _error(400, "inputs: Input should be a non-empty string")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            return _error(400, "parameters: Input should be an object")
        problems = self._check_parameters(parameters)
        if problems:
            return _error(400, "; ".join(problems))
        if fault is not None and fault.content_filter:
            return _error(400, "Input flagged by the content safety filter (NSFW content detected)")

        prompt: str = body["inputs"]
        width, height = int(parameters.get("width", 1024)), int(parameters.get("height", 1024))
        seed = self.harness.pick_seed(parameters.get("seed"))
        output_format = "png" if "image/png" in request.headers.get("accept", "") else "jpeg"
        data = await run_in_threadpool(
            render.render_image, prompt, seed=seed, width=width, height=height, output_format=output_format
        )
        return Response(data, media_type=f"image/{output_format}", headers={"x-compute-type": "simulated"})

    @staticmethod
    def _check_parameters(parameters: dict[str, Any]) -> list[str]:
        problems = []
        for name in ("width", "height"):
            value = parameters.get(name, 1024)
            if not isinstance(value, int) or not 256 <= value <= 2048 or value % 8:
                problems.append(f"parameters.{name}: must be a multiple of 8 between 256 and 2048")
        steps = parameters.get("num_inference_steps", 4)
        if not isinstance(steps, int) or not 1 <= steps <= 100:
            problems.append("parameters.num_inference_steps: must be between 1 and 100")
        guidance = parameters.get("guidance_scale", 3.5)
        if not isinstance(guidance, int | float) or not 0 <= guidance <= 30:
            problems.append("parameters.guidance_scale: must be between 0 and 30")
        seed = parameters.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            problems.append("parameters.seed: must be a non-negative integer")
        return problems

    @staticmethod
    def _loading(model_id: str, estimated_time: float) -> JSONResponse:
        return _error(503, f"Model {model_id} is currently loading", estimated_time=estimated_time)
