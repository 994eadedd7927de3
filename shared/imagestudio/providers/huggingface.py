"""Hugging Face inference client (text-to-image): ``POST /models/{model_id}`` answering raw image bytes."""

from __future__ import annotations

from typing import Any

import httpx

from imagestudio.errors import ProviderError, ProviderUnavailable
from imagestudio.providers.http import HttpProvider
from imagestudio.providers.schemas import GeneratedImage, GenerationRequest
from imagestudio.providers.sizing import fit_size, nearest_aspect_ratio, size_for_aspect_ratio

__all__ = ["HF_MODELS", "HuggingFaceClient"]

#: Our model id -> (default steps, longest side) for the text-to-image models we call.
HF_MODELS: dict[str, tuple[int, int]] = {
    "black-forest-labs/FLUX.1-schnell": (4, 2048),
    "black-forest-labs/FLUX.1-dev": (28, 2048),
}


class HuggingFaceClient(HttpProvider):
    """Client for Hugging Face inference (or its simulator, through ``base_url``).

    A cold model answers 503 with ``estimated_time``; that becomes
    ``ProviderUnavailable(retry_after=estimated_time)`` so a worker re-schedules instead of
    blocking a thread (``wait_for_model=True`` asks the API to hold the request instead).

    Usage::

        with HuggingFaceClient(api_key="hf_...") as hf:
            [image] = hf.generate(GenerationRequest(prompt="...", model="black-forest-labs/FLUX.1-dev"))
    """

    name = "huggingface"
    default_model = "black-forest-labs/FLUX.1-schnell"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://router.huggingface.co/hf-inference",
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        wait_for_model: bool = False,
    ) -> None:
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, transport=transport)
        self._wait_for_model = wait_for_model

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One call per image; image ``i`` uses ``seed + i`` when a seed is set."""
        model = self._resolve_model(request.model, HF_MODELS)
        default_steps, max_side = HF_MODELS[model]
        width, height = self._size(request, max_side=max_side)
        headers = {"accept": "image/png", "content-type": "application/json"}
        if self._wait_for_model:
            headers["x-wait-for-model"] = "true"
        if request.seed is None:
            # Identical unseeded requests would otherwise come back from the cache as one image.
            headers["x-use-cache"] = "false"
        images = []
        for index in range(request.count):
            seed = request.seed + index if request.seed is not None else None
            parameters: dict[str, Any] = {
                "negative_prompt": request.negative_prompt,
                "width": width,
                "height": height,
                "seed": seed,
                "num_inference_steps": request.steps or default_steps,
                "guidance_scale": request.guidance_scale,
            }
            body = {
                "inputs": request.prompt,
                "parameters": {key: value for key, value in parameters.items() if value is not None},
            }
            response = self._send("POST", f"/models/{model}", json=body, headers=headers)
            if not response.headers.get("content-type", "").startswith("image/"):
                raise ProviderError(
                    f"{self.name} answered {response.headers.get('content-type')!r} instead of an image",
                    provider=self.name,
                )
            images.append(self._image(response.content, model=model, seed=seed))
        return images

    def _size(self, request: GenerationRequest, *, max_side: int) -> tuple[int, int]:
        if request.width and request.height:
            width, height = request.width, request.height
        else:
            ratio = nearest_aspect_ratio(
                ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21", "4:5", "5:4"),
                aspect_ratio=request.aspect_ratio,
                width=request.width,
                height=request.height,
            )
            width, height = size_for_aspect_ratio(ratio, megapixels=1.0, multiple=16)
        return fit_size(width, height, max_side=max_side, min_side=256, multiple=16)

    def _error_for(self, response: httpx.Response) -> ProviderError:
        # A cold model says how long it needs; that is the honest retry delay.
        if response.status_code == 503:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("estimated_time"), int | float):
                return ProviderUnavailable(
                    f"{self.name} is loading the model: {body.get('error', 'model loading')}",
                    retry_after=float(body["estimated_time"]),
                    provider=self.name,
                )
        return super()._error_for(response)
