"""SIMULATOR of the Hugging Face router's text-to-image routes (``https://router.huggingface.co``).

Two inference providers behind the router, as the official client calls them::

    POST /fal-ai/{fal id}                 {prompt, image_size: {width, height}, ...} -> {images: [{url}], seed}
    POST /hf-inference/models/{hub id}    {inputs, parameters}                       -> image bytes

Same ``Bearer`` check, bodies and answers as the real router, every answer labelled
``X-Simulator: huggingface-simulator``; fal's output URLs point at this simulator's own ``/outputs/...``
(standing in for fal's CDN). A model the router no longer serves answers 410 (``retire()``), an
unknown one 404. There is no cold-start answer any more (no ``estimated_time``): the official client
dropped ``x-wait-for-model`` in 2025. Sources, checked 2026-12-07: https://huggingface.co/docs/inference-providers
and ``huggingface_hub`` (``inference/_providers/fal_ai.py``, ``hf_inference.py``). It never contacts
huggingface.co.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from simulators import render
from simulators.faults import ProviderSimulator, begun_post, route

__all__ = ["HuggingFaceSimulator"]

#: fal's ids of the text-to-image models the simulator serves through ``/fal-ai/``.
FAL_MODELS = frozenset({"fal-ai/flux/schnell", "fal-ai/flux/dev", "fal-ai/flux/krea"})
#: Hub ids served through ``/hf-inference/models/`` (the CPU-focused provider keeps few image models).
HF_INFERENCE_MODELS = frozenset({"stabilityai/stable-diffusion-xl-base-1.0"})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class HuggingFaceSimulator(ProviderSimulator):
    """A SIMULATOR of the Hugging Face router's text-to-image routes; ``app`` is the ASGI app to serve."""

    def __init__(self, *, api_key: str = "sim-huggingface-key") -> None:
        self._outputs: dict[str, bytes] = {}
        self._outputs_lock = threading.Lock()
        super().__init__(
            "huggingface", "Hugging Face Inference Providers router", "router.huggingface.co", api_key=api_key
        )

    async def _begin(
        self, request: Request, model_id: str, served: frozenset[str], unknown: str
    ) -> tuple[Any, dict[str, Any], str] | Response:
        """Authenticate, take the fault, refuse a model not ``served`` (404, ``unknown`` naming it),
        read the JSON body; the fault, the body and this simulator's base URL (where outputs are)."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid credentials in Authorization header")
        fault = await self.harness.begin(request)
        if fault is not None:
            scripted = self.harness.error_response(fault, lambda status, message: {"error": message})
            if scripted is not None:
                return scripted
        if model_id not in served:
            return _error(404, unknown.format(model_id=model_id))
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Request body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        return fault, body, str(request.base_url).rstrip("/")

    @begun_post("/fal-ai/{name:path}", FAL_MODELS, "Model {model_id} is not served by fal-ai")
    async def _fal(self, model_id: str, fault: Any, body: dict[str, Any], base_url: str) -> Response:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(422, "prompt: field required")
        size = body.get("image_size") or {"width": 1024, "height": 1024}
        if not isinstance(size, dict):
            return _error(422, "image_size: must be an object with width and height")
        problems = self._check_parameters({**body, "width": size.get("width"), "height": size.get("height")})
        if problems:
            return _error(422, "; ".join(problems))
        if fault is not None and fault.content_filter:
            return _error(422, "Input flagged by the content safety filter (NSFW content detected)")
        seed = self.harness.pick_seed(body.get("seed"))
        # fal's FLUX answers JPEG (its default output_format).
        data = await run_in_threadpool(
            render.render_image,
            prompt,
            seed=seed,
            width=int(size["width"]),
            height=int(size["height"]),
            output_format="jpeg",
        )
        name = f"{uuid.uuid4().hex}.jpeg"
        with self._outputs_lock:
            self._outputs[name] = data
        url = f"{base_url}/outputs/{name}"
        return JSONResponse(
            {"images": [{"url": url, "content_type": "image/jpeg"}], "seed": seed, "prompt": prompt}
        )

    @begun_post("/hf-inference/models/{name:path}", HF_INFERENCE_MODELS, "Model {model_id} does not exist")
    async def _hf_inference(self, model_id: str, fault: Any, body: dict[str, Any], _: str) -> Response:
        if not isinstance(body.get("inputs"), str) or not body["inputs"].strip():
            return _error(400, "inputs: Input should be a non-empty string")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            return _error(400, "parameters: Input should be an object")
        problems = self._check_parameters(parameters)
        if problems:
            return _error(400, "; ".join(problems))
        if fault is not None and fault.content_filter:
            return _error(400, "Input flagged by the content safety filter (NSFW content detected)")
        width, height = int(parameters.get("width", 1024)), int(parameters.get("height", 1024))
        seed = self.harness.pick_seed(parameters.get("seed"))
        data = await run_in_threadpool(
            render.render_image, body["inputs"], seed=seed, width=width, height=height
        )
        return Response(data, media_type="image/png")

    @route("GET", "/outputs/{name}")
    async def _output(self, name: str) -> Response:
        with self._outputs_lock:
            data = self._outputs.get(name)
        return Response(status_code=404) if data is None else Response(data, media_type="image/jpeg")

    @staticmethod
    def _check_parameters(parameters: dict[str, Any]) -> list[str]:
        problems = []
        for name in ("width", "height"):
            value = parameters.get(name, 1024)
            if not isinstance(value, int) or not 256 <= value <= 2048 or value % 8:
                problems.append(f"{name}: must be a multiple of 8 between 256 and 2048")
        steps = parameters.get("num_inference_steps", 4)
        if not isinstance(steps, int) or not 1 <= steps <= 50:
            problems.append("num_inference_steps: must be between 1 and 50")
        guidance = parameters.get("guidance_scale", 3.5)
        if not isinstance(guidance, int | float) or not 0 <= guidance <= 20:
            problems.append("guidance_scale: must be between 0 and 20")
        seed = parameters.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            problems.append("seed: must be a non-negative integer")
        return problems
