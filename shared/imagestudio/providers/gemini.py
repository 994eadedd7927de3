"""Google Gemini API client: Gemini's native image models through ``POST /v1beta/models/{model}:generateContent``
(the prompt and an optional init image as parts in, the image back as an inline part).

Imagen (``:predict``) is not called any more: Google shut Imagen 4 down on 2026-08-17 (Imagen 3 on
2025-11-10) and its ids answer 404; ``python-genai`` refuses ``generate_images`` in Gemini-API mode.
The request and answer follow ``GenerateContentRequest``/``GenerateContentResponse`` of
https://ai.google.dev/api/generate-content and ``google.genai.types`` (``GenerateContentConfig``
``response_modalities``, ``ImageConfig.aspect_ratio``/``image_size``) in
https://github.com/googleapis/python-genai, checked 2026-12-07 (see docs/providers.md).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import httpx
from pydantic import BaseModel

from imagestudio.errors import ProviderContentFiltered, ProviderError, ProviderRateLimited
from imagestudio.providers.http import HttpProvider, Probe, describe_image, parse_retry_after
from imagestudio.providers.schemas import GeneratedImage, GenerationRequest
from imagestudio.providers.sizing import nearest_aspect_ratio

__all__ = ["GEMINI_IMAGE_ASPECT_RATIOS", "GEMINI_IMAGE_MODELS", "GeminiClient"]

#: Gemini's image models we call (one image per call; text-to-image and image-to-image alike).
GEMINI_IMAGE_MODELS: tuple[str, ...] = ("gemini-3.1-flash-image", "gemini-3-pro-image")
#: ``imageConfig.aspectRatio`` values both models take (``ImageConfig.aspect_ratio``).
GEMINI_IMAGE_ASPECT_RATIOS: tuple[str, ...] = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)  # fmt: skip

#: ErrorInfo reasons Google uses for a key that is wrong, expired or not allowed.
_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
#: ``finishReason`` values of a candidate whose image Google withheld: a refusal of the prompt (or
#: of what it would make), reported as content filtered and never handed to another provider.
#: Source: the ``FinishReason`` enum of https://ai.google.dev/api/generate-content#FinishReason and
#: ``google.genai.types.FinishReason`` (python-genai), checked 2026-12-07: IMAGE_SAFETY "the
#: generated image potentially violates safety policies", IMAGE_PROHIBITED_CONTENT "may contain
#: prohibited content", IMAGE_RECITATION "may be a recitation from a source", IMAGE_OTHER "image
#: generation stopped for a reason not otherwise specified" (an image-filter stop, as the others).
_SAFETY_FINISH = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
    }
)
#: "The model was expected to generate an image, but didn't" (same sources): no output, not a
#: refusal of the prompt, so the next candidate may serve it.
_NO_IMAGE_FINISH = frozenset({"NO_IMAGE"})
_RESPONSIBLE_AI_RE = re.compile(r"responsible ai|sensitive words|usage guidelines|safety", re.IGNORECASE)


class _InlineData(BaseModel):
    mimeType: str = "image/png"  # noqa: N815 - the wire name
    data: str


class _Part(BaseModel):
    text: str | None = None
    inlineData: _InlineData | None = None  # noqa: N815


class _Content(BaseModel):
    parts: list[_Part] = []


class _Candidate(BaseModel):
    content: _Content | None = None
    finishReason: str | None = None  # noqa: N815


class _PromptFeedback(BaseModel):
    blockReason: str | None = None  # noqa: N815


class _GenerateContentResponse(BaseModel):
    candidates: list[_Candidate] = []
    promptFeedback: _PromptFeedback | None = None  # noqa: N815


def _generate_content_body(request: GenerationRequest) -> dict[str, Any]:
    """The ``:generateContent`` body of a Gemini image model: the prompt, then the init image inline.

    The API has no strength and no negative prompt: subjects to avoid are said in the prompt, and the
    strength is not sent (the studio reports it as not applied). Without an aspect or size the aspect
    is not sent either, so an image-to-image answer keeps the init image's shape.
    """
    text = request.prompt
    if request.negative_prompt:
        text = f"{text}\nAvoid: {request.negative_prompt}"
    parts: list[dict[str, Any]] = [{"text": text}]
    if request.init_image is not None:
        _, _, content_type = describe_image(request.init_image, provider="gemini")
        encoded = base64.b64encode(request.init_image).decode("ascii")
        parts.append({"inline_data": {"mime_type": content_type, "data": encoded}})
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if request.aspect_ratio or (request.width and request.height):
        config["imageConfig"] = {
            "aspectRatio": nearest_aspect_ratio(
                GEMINI_IMAGE_ASPECT_RATIOS,
                aspect_ratio=request.aspect_ratio,
                width=request.width,
                height=request.height,
            )
        }
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


class GeminiClient(HttpProvider):
    """Client for the Gemini API's image models (or its simulator, through ``base_url``).

    Usage::

        with GeminiClient(api_key="AIza...") as gemini:
            images = gemini.generate(GenerationRequest(prompt="...", count=2))
    """

    name = "gemini"
    default_model = "gemini-3.1-flash-image"
    default_base_url = "https://generativelanguage.googleapis.com"

    def _auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key}

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One ``:generateContent`` call per image (``candidateCount`` is 1); with or without an init image.

        The API takes no seed, so none is recorded.
        """
        model = self._resolve_model(request.model, dict.fromkeys(GEMINI_IMAGE_MODELS))
        body = _generate_content_body(request)
        images: list[GeneratedImage] = []
        for _ in range(request.count):
            response = self._send("POST", f"/v1beta/models/{model}:generateContent", json=body)
            images.append(self._content_image(response, model=model))
        return images

    def _probe(self, model: str) -> Probe:
        """``models.get``: free, 200 while the model is served, 404 once it is shut down."""
        return Probe("GET", f"/v1beta/models/{model}", expected=(200, 404))

    def _content_image(self, response: httpx.Response, *, model: str) -> GeneratedImage:
        """The image part of a ``:generateContent`` answer; a blocked prompt or image is content filtered."""
        reply = self._reply(_GenerateContentResponse, response)
        if reply.promptFeedback is not None and reply.promptFeedback.blockReason:
            raise ProviderContentFiltered(
                f"{self.name} blocked the prompt: {reply.promptFeedback.blockReason}", provider=self.name
            )
        for candidate in reply.candidates:
            for part in candidate.content.parts if candidate.content else []:
                if part.inlineData is not None and part.inlineData.mimeType.startswith("image/"):
                    try:
                        data = base64.b64decode(part.inlineData.data, validate=True)
                    except binascii.Error as exc:
                        raise ProviderError(f"{self.name} sent invalid base64", provider=self.name) from exc
                    return self._image(data, model=model, seed=None)
        reasons = ", ".join(c.finishReason for c in reply.candidates if c.finishReason) or "no image part"
        finished = {c.finishReason for c in reply.candidates}
        if _SAFETY_FINISH & finished:
            raise ProviderContentFiltered(f"{self.name} returned no image: {reasons}", provider=self.name)
        if _NO_IMAGE_FINISH & finished:
            raise ProviderError(f"{self.name} made no image (no output): {reasons}", provider=self.name)
        raise ProviderError(f"{self.name} returned no image: {reasons}", provider=self.name)

    def _error_for(self, response: httpx.Response) -> ProviderError:
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        error = error if isinstance(error, dict) else {}
        details = error.get("details") or []
        reasons = {str(d.get("reason")) for d in details if isinstance(d, dict)}
        message = str(error.get("message") or response.text or response.reason_phrase)[:1000]
        status = response.status_code
        # Google answers a wrong API key with 400 INVALID_ARGUMENT / API_KEY_INVALID, a missing one with 403.
        if reasons & _CREDENTIAL_REASONS or (status == 403 and error.get("status") == "PERMISSION_DENIED"):
            return self._credentials_error(response, message)
        if status == 400 and _RESPONSIBLE_AI_RE.search(message):
            return ProviderContentFiltered(f"{self.name} content filter: {message}", provider=self.name)
        if status == 429 and response.headers.get("retry-after") is None:
            retry_after = None
            for detail in details:
                if isinstance(detail, dict) and "retryDelay" in detail:
                    retry_after = parse_retry_after(str(detail["retryDelay"]).rstrip("s"))
            return ProviderRateLimited(
                f"{self.name} rate limited the request: {message}",
                retry_after=retry_after,
                provider=self.name,
            )
        return super()._error_for(response)
