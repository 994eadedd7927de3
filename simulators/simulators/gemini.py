"""SIMULATOR of the Gemini API's image models: ``POST /v1beta/models/{model}:generateContent`` (text and
inline image parts in, an inline image part out).

Same path, ``x-goog-api-key`` (or ``?key=``) check with Google's answers (a missing key is 403
PERMISSION_DENIED, a wrong one 400 API_KEY_INVALID), request shape and Google error bodies as the
real API, every answer labelled ``X-Simulator: gemini-simulator``. It never contacts
generativelanguage.googleapis.com.

It serves what Google serves (checked 2026-12-07, https://ai.google.dev/gemini-api/docs/deprecations):
``gemini-3.1-flash-image`` and ``gemini-3-pro-image``. Shut-down models answer 404 NOT_FOUND as the
vendor does: Imagen 4 (``:predict``, shut down 2026-08-17), ``gemini-2.5-flash-image`` (2026-10-02)
and the ``-preview`` ids (2026-06-25).

A ``:generateContent`` answer without an image ends its candidate with one of Google's
``FinishReason`` values (a ``finish_reason`` or ``content_filter`` fault), as published in
https://ai.google.dev/api/generate-content#FinishReason and ``google.genai.types.FinishReason``
(https://github.com/googleapis/python-genai), checked 2026-12-07.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from simulators import render
from simulators.faults import ProviderSimulator, route

__all__ = ["GeminiSimulator"]

#: Gemini's image models (``:generateContent``) the vendor serves today.
IMAGE_MODELS = frozenset({"gemini-3.1-flash-image", "gemini-3-pro-image"})
#: Output sizes at ``imageSize`` 1K (the default) per ``imageConfig.aspectRatio``.
IMAGE_SIZES = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
    "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
}  # fmt: skip
#: ``imageConfig.imageSize`` values and the scale of each over 1K.
IMAGE_SCALES = {"1K": 1, "2K": 2, "4K": 4}
#: The ``finishReason`` values of a candidate that carries no image (see the module docstring).
FINISH_REASONS = frozenset({
    "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "OTHER",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE",
})  # fmt: skip
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def _error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(_error_body(status, message, details), status_code=status)


class GeminiSimulator(ProviderSimulator):
    """A SIMULATOR of the Gemini API's image models; ``app`` is the ASGI app to serve."""

    def __init__(self, *, api_key: str = "sim-gemini-key") -> None:
        super().__init__(
            "gemini",
            "Gemini API (image models through generateContent)",
            "generativelanguage.googleapis.com",
            api_key=api_key,
        )

    def _check_key(self, request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            return _error(
                400,
                "API key not valid. Please pass a valid API key.",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                  "domain": "googleapis.com"}],
            )  # fmt: skip
        return None

    @route("GET", "/v1beta/models/{model}")
    async def _model_get(self, model: str, request: Request) -> Response:
        """``models.get``: the model's description while it is served, 404 once it is shut down."""
        if (denied := self._check_key(request)) is not None:
            return denied
        fault = await self.harness.begin(request)
        if fault is not None and (scripted := self.harness.error_response(fault, _error_body)) is not None:
            return scripted
        if model not in IMAGE_MODELS:
            return _error(404, f"models/{model} is not found for API version v1beta.")
        return JSONResponse(
            {
                "name": f"models/{model}",
                "version": "001",
                "displayName": model,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
        )

    @route("POST", "/v1beta/models/{model_action}")
    async def _model_call(self, model_action: str, request: Request) -> Response:
        model, _, action = model_action.partition(":")
        if action not in ("predict", "generateContent"):
            return _error(404, f"models/{model_action} is not a supported method")
        if (denied := self._check_key(request)) is not None:
            return denied
        if action == "predict" or model not in IMAGE_MODELS:
            # Imagen's :predict and every shut-down id answer as Google answers them now.
            return _error(
                404, f"models/{model} is not found for API version v1beta, or is not supported for {action}."
            )
        fault = await self.harness.begin(request)
        if fault is not None:
            details = None
            if fault.status == 429 and isinstance(fault.retry_after, int | float):
                details = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{fault.retry_after:g}s",
                    }
                ]
            scripted = self.harness.error_response(
                fault, lambda status, message: _error_body(status, message, details)
            )
            if scripted is not None:
                return scripted
        return await self._generate_content(
            model,
            request,
            content_filtered=bool(fault and fault.content_filter),
            finish_reason=fault.finish_reason if fault else None,
        )

    async def _generate_content(
        self, model: str, request: Request, *, content_filtered: bool, finish_reason: str | None = None
    ) -> Response:
        """One image from the text and (optional) inline image parts; a filtered one has no image part."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON payload received.")
        problem, prompt, source, size = self._check_content(body)
        if problem:
            return _error(400, problem)
        if content_filtered or finish_reason:
            # Gemini answers 200 with a candidate that carries no image and says why in its
            # finishReason (FINISH_REASONS): a filter's refusal, or NO_IMAGE (no output).
            reason = finish_reason or "IMAGE_SAFETY"
            if reason not in FINISH_REASONS:
                return _error(
                    500, f"simulator: unknown finishReason {reason!r}; known: {sorted(FINISH_REASONS)}"
                )
            return JSONResponse({"candidates": [{"finishReason": reason, "index": 0}]})
        seed = self.harness.pick_seed(None)

        def draw() -> str:
            image = render.render(prompt, seed=seed, width=size[0], height=size[1])
            if source is not None:
                # No strength in this API: the simulator keeps a fixed share of the input.
                image = Image.blend(source.convert("RGB").resize(size), image, 0.5)
            return base64.b64encode(render.encode(image, "png")).decode("ascii")

        data = await run_in_threadpool(draw)
        part = {"inlineData": {"mimeType": "image/png", "data": data}}
        return JSONResponse(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
                ],
                "modelVersion": model,
            }
        )

    @staticmethod
    def _check_content(body: Any) -> tuple[str | None, str, Image.Image | None, tuple[int, int]]:
        """``(problem, prompt, init image, output size)`` of a ``:generateContent`` body, Google's wording."""
        none: tuple[str, Image.Image | None, tuple[int, int]] = ("", None, (0, 0))
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list) or not contents or not isinstance(contents[-1], dict):
            return ("* GenerateContentRequest.contents: contents is not specified", *none)
        parts = contents[-1].get("parts")
        if not isinstance(parts, list) or not parts:
            return ("* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.", *none)
        texts: list[str] = []
        source: Image.Image | None = None
        for part in parts:
            inline = part.get("inline_data", part.get("inlineData")) if isinstance(part, dict) else None
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(inline, dict):
                mime = inline.get("mime_type", inline.get("mimeType"))
                if not isinstance(mime, str) or not mime.startswith("image/"):
                    return ("* inline_data.mime_type: an image MIME type is required", *none)
                try:
                    source = render.decode(base64.b64decode(str(inline.get("data", "")), validate=True))
                except (binascii.Error, ValueError):
                    return (
                        "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                        *none,
                    )
            else:
                return (
                    "* GenerateContentRequest.contents[0].parts: each part needs text or inline_data",
                    *none,
                )
        prompt = " ".join(texts).strip()
        if not prompt:
            return ("* GenerateContentRequest.contents[0].parts: a text part is required", *none)
        config = body.get("generationConfig", body.get("generation_config")) or {}
        modalities = config.get("responseModalities", config.get("response_modalities", ["TEXT"]))
        if not isinstance(modalities, list) or "IMAGE" not in modalities:
            return ("Model does not support the requested response modalities: TEXT", *none)
        image_config = config.get("imageConfig", config.get("image_config")) or {}
        aspect = image_config.get("aspectRatio", image_config.get("aspect_ratio"))
        if aspect is not None and aspect not in IMAGE_SIZES:
            return (f"aspectRatio must be one of {', '.join(IMAGE_SIZES)}.", *none)
        image_size = image_config.get("imageSize", image_config.get("image_size", "1K"))
        if image_size not in IMAGE_SCALES:
            return (f"imageSize must be one of {', '.join(IMAGE_SCALES)}.", *none)
        if aspect is not None:
            size = IMAGE_SIZES[aspect]
        elif source is not None:
            # Without an aspect the answer keeps the input image's shape (about one megapixel).
            width = round(math.sqrt(1024 * 1024 * source.width / source.height))
            size = (width, max(1, round(width * source.height / source.width)))
        else:
            size = IMAGE_SIZES["1:1"]
        scale = IMAGE_SCALES[image_size]
        return None, prompt, source, (size[0] * scale, size[1] * scale)
