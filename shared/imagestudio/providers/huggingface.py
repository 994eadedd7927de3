"""Hugging Face Inference Providers client (text-to-image) through the router, ``https://router.huggingface.co``.

The router reaches each Hub model through an inference provider, named per model here (the
Hub's ``inferenceProviderMapping``: the provider and its own id for the model), as
``huggingface_hub``'s ``InferenceClient(provider=...)`` does::

    hf-inference   POST /hf-inference/models/{hub id}   {inputs, parameters}     -> image bytes
    fal-ai         POST /fal-ai/{fal id}                {prompt, image_size...}  -> {images: [{url}]}

The ``hf-inference`` provider has served mostly CPU models since July 2025, so the FLUX models go
through ``fal-ai``. A model the router no longer serves answers 404 or 410 (``ProviderModelGone``:
the next candidate takes over). The legacy cold-start path (``x-wait-for-model``, a 503 with
``estimated_time``) is gone from the official client and from here: a 503 is an ordinary
unavailability. Sources, checked 2026-12-07: https://huggingface.co/docs/inference-providers
(text-to-image task, providers fal-ai and hf-inference) and ``huggingface_hub``
(``src/huggingface_hub/inference/_providers/fal_ai.py``, ``hf_inference.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from imagestudio.errors import ProviderError
from imagestudio.providers.http import HttpProvider, Probe
from imagestudio.providers.schemas import GeneratedImage, GenerationRequest, OutputFormat
from imagestudio.providers.sizing import request_size

__all__ = ["HF_MODELS", "HuggingFaceClient", "HuggingFaceRoute"]


@dataclass(frozen=True)
class HuggingFaceRoute:
    """How the router serves one Hub model: the inference provider, its id there, and the model's limits."""

    provider: Literal["fal-ai", "hf-inference"]
    #: The provider's own id of the model (``hf-inference``: the Hub id).
    provider_model: str
    default_steps: int
    max_side: int = 2048
    #: Inclusive ranges the provider's model accepts.
    steps_range: tuple[int, int] = (1, 50)
    guidance_range: tuple[float, float] = (1.0, 20.0)
    #: What it answers in (fal's FLUX: JPEG); another asked format is converted locally after download.
    output_formats: tuple[OutputFormat, ...] = ("jpeg",)


#: Hub model id -> its route (the Hub's inference provider mapping).
HF_MODELS: dict[str, HuggingFaceRoute] = {
    "black-forest-labs/FLUX.1-schnell": HuggingFaceRoute(
        "fal-ai", "fal-ai/flux/schnell", 4, steps_range=(1, 12)
    ),
    "black-forest-labs/FLUX.1-dev": HuggingFaceRoute("fal-ai", "fal-ai/flux/dev", 28),
}


class _FalImage(BaseModel):
    url: str


class _FalResult(BaseModel):
    images: list[_FalImage]
    seed: int | None = None


class HuggingFaceClient(HttpProvider):
    """Client for the Hugging Face router (or its simulator, through ``base_url``).

    Usage::

        with HuggingFaceClient(api_key="hf_...") as hf:
            [image] = hf.generate(GenerationRequest(prompt="...", model="black-forest-labs/FLUX.1-dev"))
    """

    name = "huggingface"
    default_model = "black-forest-labs/FLUX.1-schnell"
    default_base_url = "https://router.huggingface.co"

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One call per image; image ``i`` uses ``seed + i`` when a seed is set."""
        model = self._resolve_model(request.model, HF_MODELS)
        route = HF_MODELS[model]
        width, height = request_size(request, max_side=route.max_side)
        images = []
        for index in range(request.count):
            seed = request.seed + index if request.seed is not None else None
            parameters: dict[str, Any] = {
                "negative_prompt": request.negative_prompt,
                "width": width,
                "height": height,
                "seed": seed,
                "num_inference_steps": self._in_range(
                    route.steps_range, request.steps or route.default_steps, "steps", model
                ),
                "guidance_scale": None
                if request.guidance_scale is None
                else self._in_range(route.guidance_range, request.guidance_scale, "guidance_scale", model),
            }
            parameters = {key: value for key, value in parameters.items() if value is not None}
            if route.provider == "fal-ai":
                data = self._fal(route, request.prompt, parameters)
            else:
                data = self._hf_inference(model, request.prompt, parameters, cached=seed is not None)
            images.append(self._image(data, model=model, seed=seed))
        return images

    def _probe(self, model: str) -> Probe:
        """An empty body to the model's route: the provider's 4xx validation error when the router serves it."""
        route = HF_MODELS[model]
        path = (
            f"/fal-ai/{route.provider_model}"
            if route.provider == "fal-ai"
            else f"/hf-inference/models/{model}"
        )
        return Probe("POST", path, {"json": {}})

    def _hf_inference(self, model: str, prompt: str, parameters: dict[str, Any], *, cached: bool) -> bytes:
        headers = {"accept": "image/png"}
        if not cached:
            # Identical unseeded requests would otherwise come back from the cache as one image.
            headers["x-use-cache"] = "false"
        body = {"inputs": prompt, "parameters": parameters}
        response = self._send("POST", f"/hf-inference/models/{model}", json=body, headers=headers)
        if not response.headers.get("content-type", "").startswith("image/"):
            raise ProviderError(
                f"{self.name} answered {response.headers.get('content-type')!r} instead of an image",
                provider=self.name,
            )
        return response.content

    def _fal(self, route: HuggingFaceRoute, prompt: str, parameters: dict[str, Any]) -> bytes:
        """fal's text-to-image: the size as ``image_size``, the image behind the answer's first URL."""
        size = {"width": parameters.pop("width"), "height": parameters.pop("height")}
        body = {"prompt": prompt, "image_size": size, **parameters}
        response = self._send("POST", f"/fal-ai/{route.provider_model}", json=body)
        result = self._reply(_FalResult, response)
        if not result.images:
            raise ProviderError(f"{self.name} answered without an image", provider=self.name)
        return self._download_output(result.images[0].url)
