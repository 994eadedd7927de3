"""Google Gemini API client for Imagen: ``POST /v1beta/models/{model}:predict`` with base64 predictions."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

import httpx
from pydantic import BaseModel, ValidationError

from imagestudio.errors import ProviderContentFiltered, ProviderError, ProviderRateLimited
from imagestudio.providers.http import HttpProvider, parse_retry_after
from imagestudio.providers.schemas import GeneratedImage, GenerationRequest
from imagestudio.providers.sizing import nearest_aspect_ratio

__all__ = ["GEMINI_MODELS", "IMAGEN_ASPECT_RATIOS", "GeminiClient"]

GEMINI_MODELS: tuple[str, ...] = (
    "imagen-4.0-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-ultra-generate-001",
)
IMAGEN_ASPECT_RATIOS: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9")
#: Imagen returns at most this many images per call.
MAX_SAMPLES_PER_CALL = 4

#: ErrorInfo reasons Google uses for a key that is wrong, expired or not allowed.
_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_RESPONSIBLE_AI_RE = re.compile(r"responsible ai|sensitive words|usage guidelines|safety", re.IGNORECASE)


class _Prediction(BaseModel):
    mimeType: str = "image/png"  # noqa: N815 - the wire name
    bytesBase64Encoded: str | None = None  # noqa: N815
    raiFilteredReason: str | None = None  # noqa: N815


class _PredictResponse(BaseModel):
    predictions: list[_Prediction] = []


class GeminiClient(HttpProvider):
    """Client for ``generativelanguage.googleapis.com`` Imagen (or its simulator, through ``base_url``).

    Usage::

        with GeminiClient(api_key="AIza...") as gemini:
            images = gemini.generate(GenerationRequest(prompt="...", count=4))
    """

    name = "gemini"
    default_model = "imagen-4.0-generate-001"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://generativelanguage.googleapis.com",
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        person_generation: Literal["dont_allow", "allow_adult", "allow_all"] = "allow_adult",
    ) -> None:
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, transport=transport)
        self._person_generation = person_generation

    def _auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key}

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Up to four images per call (``sampleCount``); Imagen takes no seed, so none is recorded."""
        model = self._resolve_model(request.model, dict.fromkeys(GEMINI_MODELS))
        aspect_ratio = nearest_aspect_ratio(
            IMAGEN_ASPECT_RATIOS,
            aspect_ratio=request.aspect_ratio,
            width=request.width,
            height=request.height,
        )
        images: list[GeneratedImage] = []
        remaining = request.count
        while remaining > 0:
            sample_count = min(remaining, MAX_SAMPLES_PER_CALL)
            body = {
                "instances": [{"prompt": request.prompt}],
                "parameters": {
                    "sampleCount": sample_count,
                    "aspectRatio": aspect_ratio,
                    "personGeneration": self._person_generation,
                },
            }
            response = self._send("POST", f"/v1beta/models/{model}:predict", json=body)
            images.extend(self._images_from(response, model=model))
            remaining -= sample_count
        return images

    def _images_from(self, response: httpx.Response, *, model: str) -> list[GeneratedImage]:
        try:
            predictions = _PredictResponse.model_validate_json(response.content).predictions
        except ValidationError as exc:
            raise ProviderError(
                f"{self.name} sent a reply we cannot read: {exc}", provider=self.name
            ) from exc
        images = []
        for prediction in predictions:
            if not prediction.bytesBase64Encoded:
                continue
            try:
                data = base64.b64decode(prediction.bytesBase64Encoded, validate=True)
            except binascii.Error as exc:
                raise ProviderError(f"{self.name} sent invalid base64", provider=self.name) from exc
            images.append(self._image(data, model=model, seed=None))
        if not images:
            # Imagen drops filtered images from the reply instead of failing the call.
            reasons = "; ".join(p.raiFilteredReason for p in predictions if p.raiFilteredReason)
            raise ProviderContentFiltered(
                f"{self.name} returned no images: {reasons or 'all outputs filtered'}", provider=self.name
            )
        return images

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
