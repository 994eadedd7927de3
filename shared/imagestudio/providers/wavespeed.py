"""WaveSpeedAI client: submit ``POST /api/v3/{model}``, poll ``/api/v3/predictions/{id}/result``, download.

Every answer is an envelope ``{code, message, data}``; an error can come inside an HTTP 200 with
``code`` set to the error's status and no ``data``, so ``code`` is read before ``data``. A prediction
is ``created`` or ``processing`` until it ends ``completed``; any other status (``failed``, and the
``cancelled`` and ``timeout`` a prediction can also end in) is work that ended without an output
(``ProviderWorkFailed``). Sources, checked 2026-12-07: https://wavespeed.ai/docs/get-result,
https://wavespeed.ai/docs/what-are-predictions and the official SDK
https://github.com/WaveSpeedAI/wavespeed-python (``src/wavespeed/api/client.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderModelGone,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderWorkFailed,
)
from imagestudio.providers.http import HttpProvider, Probe, data_uri, looks_like_content_filter
from imagestudio.providers.protocols import WaitsForResults
from imagestudio.providers.schemas import (
    GeneralEditRequest,
    GeneratedImage,
    GenerationRequest,
    OutputFormat,
    PendingResult,
)
from imagestudio.providers.sizing import nearest_aspect_ratio, request_size

__all__ = ["WAVESPEED_MODELS", "WaveSpeedClient", "WaveSpeedModel"]


@dataclass(frozen=True, kw_only=True)
class WaveSpeedModel:
    """How one WaveSpeed model is called: its path and the shape of its input."""

    path: str
    kind: Literal["generate", "edit"]
    #: ``size`` ("W*H") or ``aspect_ratio`` for the output shape.
    shape: Literal["size", "aspect_ratio", "none"] = "size"
    #: Edit models: one ``image`` or a list of ``images``.
    image_field: Literal["image", "images", ""] = ""
    #: A generate model that takes an init ``image`` and a ``strength`` (image-to-image).
    image_to_image: bool = False
    max_side: int = 1536
    aspect_ratios: tuple[str, ...] = ()
    #: Formats it answers in; a model with one takes no ``output_format`` (FLUX.1 dev answers JPEG,
    #: Ideogram PNG): another asked format is converted locally after download.
    output_formats: tuple[OutputFormat, ...] = ("jpeg", "png", "webp")
    #: Inclusive ranges the model accepts (``None``: the model takes no such field).
    steps_range: tuple[int, int] | None = None
    guidance_range: tuple[float, float] | None = None


#: Our model id -> how WaveSpeed serves it.
WAVESPEED_MODELS: dict[str, WaveSpeedModel] = {
    "ideogram-v3-turbo": WaveSpeedModel(
        path="ideogram-ai/ideogram-v3-turbo",
        kind="generate",
        shape="aspect_ratio",
        output_formats=("png",),
        aspect_ratios=("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4"),
    ),
    "qwen-image": WaveSpeedModel(
        path="wavespeed-ai/qwen-image/text-to-image", kind="generate", max_side=1536
    ),
    # https://wavespeed.ai/models/wavespeed-ai/flux-dev (checked 2026-12-07): no output_format,
    # num_inference_steps 1-50, guidance_scale 1-20.
    "flux-dev": WaveSpeedModel(
        path="wavespeed-ai/flux-dev",
        kind="generate",
        image_to_image=True,
        output_formats=("jpeg",),
        steps_range=(1, 50),
        guidance_range=(1.0, 20.0),
    ),
    "qwen-edit": WaveSpeedModel(
        path="wavespeed-ai/qwen-image/edit", kind="edit", image_field="image", shape="none"
    ),
    "qwen-edit-plus": WaveSpeedModel(
        path="wavespeed-ai/qwen-image/edit-plus", kind="edit", image_field="images", shape="none"
    ),
    "nano-banana-pro-edit-ultra": WaveSpeedModel(
        path="google/nano-banana-pro/edit-ultra",
        kind="edit",
        image_field="images",
        shape="none",
        max_side=8192,
    ),
    "seedream-v4.5-edit": WaveSpeedModel(
        path="bytedance/seedream-v4.5/edit", kind="edit", image_field="images", shape="none", max_side=4096
    ),
    "flux-kontext-pro": WaveSpeedModel(
        path="wavespeed-ai/flux-kontext-pro", kind="edit", image_field="image", shape="none", max_side=2048
    ),
}


def _image_to_image(model: str, spec: WaveSpeedModel, request: GenerationRequest) -> dict[str, Any]:
    """The image-to-image fields of a generate body: ``image`` (a ``data:`` URI) and ``strength``, as given.

    ``strength`` is sent as given, 0.0 included (WaveSpeed's default, 0.8, applies only when it is absent).
    """
    if request.init_image is None:
        return {}
    if not spec.image_to_image:
        raise ValueError(f"wavespeed {model} takes no init image")
    return {"image": data_uri(request.init_image), "strength": request.strength}


#: Statuses of a prediction still at work; ``completed`` has outputs, anything else ended without.
_IN_PROGRESS = frozenset({"created", "processing"})


class _Prediction(BaseModel):
    """The ``data`` object of a WaveSpeed prediction reply."""

    id: str
    model: str = ""
    #: created, processing, completed, failed, cancelled, timeout (see the module docstring).
    status: str
    outputs: list[str] | None = None
    has_nsfw_contents: list[bool] | None = None
    error: str | None = None


class _Envelope(BaseModel):
    code: int = 200
    message: str = ""
    data: _Prediction | None = None


class WaveSpeedClient(WaitsForResults, HttpProvider):
    """Client for ``api.wavespeed.ai`` (or its simulator, through ``base_url``); every call is async.

    Usage::

        with WaveSpeedClient(api_key="...") as wavespeed:
            [pending] = wavespeed.submit_generate(GenerationRequest(prompt="...", model="qwen-image"))
            images = wavespeed.poll(pending)  # None while created/processing
    """

    name = "wavespeed"
    default_model = "qwen-image"
    default_base_url = "https://api.wavespeed.ai"
    poll_interval_seconds = 1.0

    # -- generate --

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Submit one prediction per image and wait for each (bounded by ``timeout`` x 5)."""
        pendings = self.submit_generate(request)
        return [image for pending in pendings for image in self.wait(pending, deadline=self._wait_deadline())]

    def submit_generate(self, request: GenerationRequest) -> list[PendingResult]:
        """One prediction per requested image; image ``i`` uses ``seed + i`` when a seed is set."""
        model = self._resolve_model(request.model, self._models("generate"))
        spec = WAVESPEED_MODELS[model]
        pendings = []
        for index in range(request.count):
            seed = request.seed + index if request.seed is not None else None
            body: dict[str, Any] = {"prompt": request.prompt, "seed": seed if seed is not None else -1}
            if request.negative_prompt:
                body["negative_prompt"] = request.negative_prompt
            if spec.shape == "aspect_ratio":
                body["aspect_ratio"] = nearest_aspect_ratio(
                    spec.aspect_ratios,
                    aspect_ratio=request.aspect_ratio,
                    width=request.width,
                    height=request.height,
                )
            else:
                body["size"] = "{}*{}".format(*request_size(request, max_side=spec.max_side))
            if len(spec.output_formats) > 1:
                body["output_format"] = request.output_format
            if request.guidance_scale is not None:
                body["guidance_scale"] = self._in_range(
                    spec.guidance_range, request.guidance_scale, "guidance_scale", model
                )
            if request.steps is not None:
                body["num_inference_steps"] = self._in_range(spec.steps_range, request.steps, "steps", model)
            body |= _image_to_image(model, spec, request)
            pendings.append(self._submit(model, spec, body, kind="generate", seed=seed))
        return pendings

    # -- general edit --

    def edit(self, request: GeneralEditRequest) -> list[GeneratedImage]:
        """Submit an edit and wait for it."""
        return self.wait(self.submit_edit(request), deadline=self._wait_deadline())

    def submit_edit(self, request: GeneralEditRequest) -> PendingResult:
        """Start a prompt-driven edit on a WaveSpeed edit model (images sent as ``data:`` URIs)."""
        model = self._resolve_model(request.model or "qwen-edit", self._models("edit"))
        spec = WAVESPEED_MODELS[model]
        images = [data_uri(image) for image in request.images]
        body: dict[str, Any] = {"prompt": request.prompt, "output_format": request.output_format}
        if spec.image_field == "images":
            body["images"] = images
        else:
            body["image"] = images[0]
        if request.mask:
            body["mask_image"] = data_uri(request.mask)
        optional = {
            "negative_prompt": request.negative_prompt,
            "guidance_scale": request.guidance_scale,
            "num_inference_steps": request.steps,
            "seed": request.seed,
        }
        body |= {key: value for key, value in optional.items() if value is not None}
        return self._submit(model, spec, body, kind="edit", seed=request.seed)

    # -- polling --

    def poll(self, pending: PendingResult) -> list[GeneratedImage] | None:
        """``None`` while created/processing; the downloaded outputs once completed."""
        response = self._send("GET", f"/api/v3/predictions/{pending.remote_id}/result")
        prediction = self._prediction(response)
        if prediction.status in _IN_PROGRESS:
            return None
        if prediction.status != "completed":
            reason = prediction.error or "no reason given"
            if looks_like_content_filter(reason):
                raise ProviderContentFiltered(f"{self.name} content filter: {reason}", provider=self.name)
            # Failed, cancelled or timed out: the model or the platform gave up, not our input
            # (that is a 400 on submit); polling again cannot help, only a new (paid) submission.
            raise ProviderWorkFailed(
                f"{self.name} prediction {prediction.id} ended {prediction.status}: {reason}",
                provider=self.name,
            )
        outputs = prediction.outputs or []
        nsfw = prediction.has_nsfw_contents or []
        if nsfw and all(nsfw):
            raise ProviderContentFiltered(
                f"{self.name} flagged every output of {prediction.id} as NSFW", provider=self.name
            )
        if not outputs:
            raise ProviderError(f"{self.name} completed {prediction.id} without outputs", provider=self.name)
        flagged = nsfw + [False] * len(outputs)
        return [
            self._image(self._download_output(url), model=pending.model, seed=pending.seed)
            for url, flag in zip(outputs, flagged, strict=False)
            if not flag
        ]

    # -- internals --

    def _probe(self, model: str) -> Probe:
        """An empty body: ``prompt is required`` when the model is served, ``model not found`` when not."""
        return Probe("POST", f"/api/v3/{WAVESPEED_MODELS[model].path}", {"json": {}})

    def _probe_says_gone(self, response: httpx.Response) -> bool:
        try:
            code = response.json().get("code")
        except (ValueError, AttributeError):
            return False
        return code in (404, 410)

    def _models(self, kind: str) -> dict[str, WaveSpeedModel]:
        return {name: spec for name, spec in WAVESPEED_MODELS.items() if spec.kind == kind}

    def _wait_deadline(self) -> float:
        return max(30.0, (self.timeout.read or 60.0) * 5)

    def _submit(
        self, model: str, spec: WaveSpeedModel, body: dict[str, Any], *, kind: str, seed: int | None
    ) -> PendingResult:
        response = self._send("POST", f"/api/v3/{spec.path}", json=body)
        prediction = self._prediction(response)
        return PendingResult(provider=self.name, model=model, remote_id=prediction.id, kind=kind, seed=seed)

    def _prediction(self, response: httpx.Response) -> _Prediction:
        """The envelope's prediction; an error in its ``code`` (even inside an HTTP 200) is raised."""
        envelope = self._reply(_Envelope, response)
        if envelope.code != 200:
            if envelope.code == 410 or (envelope.code == 404 and response.request.method == "POST"):
                raise ProviderModelGone(
                    f"{self.name} no longer serves this model (code {envelope.code}): {envelope.message}",
                    provider=self.name,
                )
            raise self._envelope_error(envelope.code, envelope.message or "no message")
        if envelope.data is None:
            raise ProviderError(f"{self.name} sent a reply we cannot read: no data", provider=self.name)
        return envelope.data

    def _envelope_error(self, code: int, message: str) -> ProviderError:
        """Our error for an envelope ``code``: read as the HTTP status it names (5004: a timeout)."""
        detail = f"{self.name} answered code {code}: {message}"
        if looks_like_content_filter(message):
            return ProviderContentFiltered(f"{self.name} content filter: {message}", provider=self.name)
        if code == 429:
            return ProviderRateLimited(detail, provider=self.name)
        if code in (401, 402, 403):
            return ProviderBadRequest(
                f"{self.name} rejected the credentials/billing (code {code}): {message}", provider=self.name
            )
        if 400 <= code < 500:
            return ProviderBadRequest(detail, provider=self.name)
        return ProviderUnavailable(detail, provider=self.name)
