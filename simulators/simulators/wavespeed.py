"""SIMULATOR of the WaveSpeedAI v3 API: submit ``POST /api/v3/{model}``, poll predictions, fetch outputs.

Same paths, ``Bearer`` check, ``{code, message, data}`` envelope and status lifecycle
(created -> processing -> completed | failed) as the real API; outputs are synthetic renders
served from this simulator's own ``/outputs/...`` (standing in for the CDN), every answer labelled
``X-Simulator: wavespeed-simulator``. It never contacts api.wavespeed.ai.

Also the answers a real key meets beyond the happy path: an error carried in the envelope's
``code``/``message`` inside an HTTP 200 (an ``envelope`` fault), and predictions that end
``cancelled`` or ``timeout`` (an ``end_status`` fault). Sources, checked 2026-12-07:
https://wavespeed.ai/docs/get-result, https://wavespeed.ai/docs/what-are-predictions and the
official SDK https://github.com/WaveSpeedAI/wavespeed-python (``src/wavespeed/api/client.py``, which
also reads envelope codes such as 5004, a sync-mode timeout). The two extra statuses are the ones
issue 26 reports; WaveSpeed's pages list created, processing, completed and failed.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from simulators import render
from simulators.faults import AsyncJob, AsyncProviderSimulator, route

__all__ = ["WaveSpeedSimulator"]

#: Model path -> (kind, image field) for the models the simulator serves.
MODELS: dict[str, tuple[Literal["generate", "edit"], str]] = {
    "ideogram-ai/ideogram-v3-turbo": ("generate", ""),
    "ideogram-ai/ideogram-v3-quality": ("generate", ""),
    "wavespeed-ai/qwen-image/text-to-image": ("generate", ""),
    # FLUX.1 dev: text-to-image, or image-to-image with an optional ``image`` and its ``strength``.
    "wavespeed-ai/flux-dev": ("generate", "image"),
    "wavespeed-ai/qwen-image/edit": ("edit", "image"),
    "wavespeed-ai/qwen-image/edit-plus": ("edit", "images"),
    "google/nano-banana-pro/edit-ultra": ("edit", "images"),
    "bytedance/seedream-v4.5/edit": ("edit", "images"),
    "wavespeed-ai/flux-kontext-pro": ("edit", "image"),
}
#: Models whose schema has no ``output_format`` (they answer JPEG whatever is sent).
NO_OUTPUT_FORMAT = frozenset({"wavespeed-ai/flux-dev"})
#: Inclusive ranges of numeric fields per model (https://wavespeed.ai/models/wavespeed-ai/flux-dev, checked 2026-12-07).
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "wavespeed-ai/flux-dev": {"num_inference_steps": (1, 50), "guidance_scale": (1, 20)},
}
IDEOGRAM_RATIOS = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 864), "3:4": (864, 1152),
    "3:2": (1248, 832), "2:3": (832, 1248), "4:5": (896, 1120), "5:4": (1120, 896),
}  # fmt: skip
_SIZE_RE = re.compile(r"^(\d{2,5})\*(\d{2,5})$")
_DATA_URI_RE = re.compile(r"^data:image/[\w.+-]+;base64,(.*)$", re.DOTALL)


def _envelope(code: int, message: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "data": data}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(_envelope(status, message), status_code=status)


class WaveSpeedSimulator(AsyncProviderSimulator):
    """A SIMULATOR of ``api.wavespeed.ai``; ``app`` is the ASGI app to serve.

    Each prediction answers ``created``/``processing`` for ``in_progress_polls`` polls (a
    ``stay_in_progress`` fault overrides it for one submission), then ``completed`` — or
    ``failed`` with a ``fail`` fault; a ``content_filter`` fault flags the outputs as NSFW.
    """

    def __init__(self, *, api_key: str = "sim-wavespeed-key", in_progress_polls: int = 1) -> None:
        super().__init__(
            "wavespeed",
            "WaveSpeedAI v3 API",
            "api.wavespeed.ai",
            api_key=api_key,
            in_progress_polls=in_progress_polls,
        )

    async def _authorised(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Unauthorized: invalid or missing API key")
        fault = await self.harness.begin(request)
        if fault is not None:
            request.state.fault = fault
            if fault.envelope and fault.status is not None:
                # The error rides in the envelope of an HTTP 200.
                message = fault.message or "simulated error"
                return JSONResponse(_envelope(fault.status, message), status_code=200)
            return self.harness.error_response(fault, lambda status, message: _envelope(status, message))
        request.state.fault = None
        return None

    # -- submit --

    @route("POST", "/api/v3/{model_path:path}")
    async def _submit(self, model_path: str, request: Request) -> Response:
        if (early := await self._authorised(request)) is not None:
            return early
        fault = request.state.fault
        if model_path not in MODELS:
            return _error(404, f"model not found: {model_path}")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        kind, image_field = MODELS[model_path]
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "prompt is required")
        seed = body.get("seed", -1)
        if not isinstance(seed, int) or not -1 <= seed <= 2_147_483_647:
            return _error(400, "seed must be an integer between -1 and 2147483647")
        output_format = body.get("output_format", "jpeg")
        if output_format not in ("jpeg", "png", "webp"):
            return _error(400, "output_format must be one of jpeg, png, webp")
        if model_path in NO_OUTPUT_FORMAT:
            output_format = "jpeg"  # the model has no such field: an unknown field is ignored
        for name, (low, high) in RANGES.get(model_path, {}).items():
            value = body.get(name)
            if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
                return _error(400, f"{name} must be between {low:g} and {high:g}")

        sources: list[Image.Image] = []
        #: How far the render moves from the first source (edit models: a fixed 0.35).
        blend = 0.35
        if kind == "generate" and model_path.startswith("ideogram-ai/"):
            aspect_ratio = body.get("aspect_ratio", "1:1")
            if aspect_ratio not in IDEOGRAM_RATIOS:
                return _error(400, f"aspect_ratio must be one of {', '.join(IDEOGRAM_RATIOS)}")
            width, height = IDEOGRAM_RATIOS[aspect_ratio]
            output_format = body.get("output_format", "png")
        elif kind == "generate":
            match = _SIZE_RE.match(str(body.get("size", "1024*1024")))
            if not match:
                return _error(400, "size must look like 1024*1024")
            width, height = int(match.group(1)), int(match.group(2))
            if not (256 <= width <= 1536 and 256 <= height <= 1536):
                return _error(400, "size: each side must be between 256 and 1536")
            if image_field and body.get(image_field):
                decoded = self._decode_image(body[image_field])
                if isinstance(decoded, Response):
                    return decoded
                sources.append(decoded)
                strength = body.get("strength", 0.8)  # the documented default
                if (
                    isinstance(strength, bool)
                    or not isinstance(strength, int | float)
                    or not 0 <= strength <= 1
                ):
                    return _error(400, "strength must be a number between 0.00 and 1.00")
                blend = float(strength)
        else:
            raw = body.get(image_field)
            values = raw if isinstance(raw, list) else [raw] if raw else []
            if not values:
                return _error(400, f"{image_field} is required")
            for value in values:
                decoded = self._decode_image(value)
                if isinstance(decoded, Response):
                    return decoded
                sources.append(decoded)
            width, height = sources[0].size

        job_seed = self.harness.pick_seed(seed)
        fmt = str(output_format)

        def draw() -> bytes:
            image = render.render(prompt, seed=job_seed, width=width, height=height)
            if sources:
                # strength 0 gives the source back (resized), 1 ignores it.
                image = Image.blend(sources[0].convert("RGB").resize(image.size), image, blend)
            return render.encode(image, fmt)

        data = await run_in_threadpool(draw)
        job = self.jobs.start(
            fault,
            in_progress_polls=self.in_progress_polls,
            model=model_path,
            outputs=[(data, fmt)],
            seed=job_seed,
            content_filtered=bool(fault and fault.content_filter),
        )
        return JSONResponse(_envelope(200, "success", self._prediction_data(job, request, status="created")))

    @staticmethod
    def _decode_image(value: Any) -> Image.Image | Response:
        if not isinstance(value, str):
            return _error(400, "images must be strings (URL or data URI)")
        match = _DATA_URI_RE.match(value)
        if not match:
            # The simulator makes no outbound requests, so only inline images can be edited.
            return _error(400, "the simulator accepts only data:image/...;base64 images, not URLs")
        try:
            return render.decode(base64.b64decode(match.group(1), validate=True))
        except (binascii.Error, ValueError) as exc:
            return _error(400, f"image is not a decodable image: {exc}")

    # -- poll --

    @route("GET", "/api/v3/predictions/{prediction_id}/result")
    @route("GET", "/api/v3/predictions/{prediction_id}")
    async def _prediction(self, prediction_id: str, request: Request) -> Response:
        if (early := await self._authorised(request)) is not None:
            return early
        polled = self.jobs.poll(prediction_id)
        if polled is None:
            return _error(404, f"prediction not found: {prediction_id}")
        job, in_progress = polled
        if in_progress:
            status = "created" if job.polls == 1 else "processing"
        else:
            status = job.end_status or ("failed" if job.error else "completed")
        return JSONResponse(_envelope(200, "success", self._prediction_data(job, request, status=status)))

    def _prediction_data(self, job: AsyncJob, request: Request, *, status: str) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        done = status == "completed"
        return {
            "id": job.id,
            "model": job.model,
            "status": status,
            "outputs": [
                f"{base}/outputs/{job.id}/{index}.{fmt}" for index, (_, fmt) in enumerate(job.outputs)
            ]
            if done
            else [],
            "has_nsfw_contents": [job.content_filtered] * len(job.outputs) if done else [],
            "urls": {"get": f"{base}/api/v3/predictions/{job.id}/result"},
            "error": (job.error or status) if status not in ("created", "processing", "completed") else "",
            "timings": {"inference": 1200 if done else 0},
            "created_at": datetime.fromtimestamp(job.created_at, UTC).isoformat().replace("+00:00", "Z"),
        }

    # -- outputs ("CDN") --

    @route("GET", "/outputs/{prediction_id}/{name}")
    async def _output(self, prediction_id: str, name: str, request: Request) -> Response:
        fault = await self.harness.begin(request)
        if fault is not None:
            scripted = self.harness.error_response(fault, lambda status, message: {"error": message})
            if scripted is not None:
                return scripted
        job = self.jobs.get(prediction_id)
        index, _, _ = name.partition(".")
        if (
            job is None
            or job.polls_left > 0
            or job.error
            or not index.isdigit()
            or int(index) >= len(job.outputs)
        ):
            return Response(status_code=404)
        data, fmt = job.outputs[int(index)]
        return Response(data, media_type=f"image/{fmt}")
