"""Stability AI REST v2beta client: generate (ultra, core, sd3.5; image-to-image on ultra and sd3.5),
edit, upscale, control and async results."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from imagestudio.errors import ProviderContentFiltered, ProviderError, ProviderRateLimited, ProviderWorkFailed
from imagestudio.providers.http import HttpProvider, Probe
from imagestudio.providers.protocols import WaitsForResults
from imagestudio.providers.schemas import (
    ControlRequest,
    EditRequest,
    GeneratedImage,
    GenerationRequest,
    PendingResult,
    UpscaleRequest,
)
from imagestudio.providers.sizing import nearest_aspect_ratio

__all__ = ["LOCKOUT_SECONDS", "STABILITY_ASPECT_RATIOS", "STYLE_PRESETS", "StabilityClient"]

#: How long Stability locks a key out after more than 150 requests in 10 seconds.
LOCKOUT_SECONDS = 60.0

#: Aspect ratios the v2beta generate endpoints accept.
STABILITY_ASPECT_RATIOS: tuple[str, ...] = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")

STYLE_PRESETS: tuple[str, ...] = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami",
    "photographic", "pixel-art", "tile-texture",
)  # fmt: skip

#: Our model id -> the generate endpoint that serves it.
_GENERATE_ENDPOINTS: dict[str, str] = {
    "ultra": "ultra",
    "core": "core",
    "sd3.5-large": "sd3",
    "sd3.5-large-turbo": "sd3",
    "sd3.5-medium": "sd3",
    "sd3.5-flash": "sd3",
}

#: Edit operations Stability runs asynchronously (POST answers an id, then /v2beta/results/{id}).
_ASYNC_EDITS = frozenset({"replace-background-and-relight"})

_FormParts = list[tuple[str, tuple[str | None, bytes | str, str | None]]]


def _form(fields: dict[str, Any], files: dict[str, bytes | None] | None = None) -> _FormParts:
    """Multipart parts: plain fields without a filename, images as files (Stability wants multipart)."""
    parts: _FormParts = [
        (name, (None, str(value), None))
        for name, value in fields.items()
        if value is not None and value != ""
    ]
    for name, data in (files or {}).items():
        if data is not None:
            parts.append((name, (name, data, "application/octet-stream")))
    return parts


def _common_fields(request: EditRequest | UpscaleRequest | ControlRequest) -> dict[str, Any]:
    """The fields every edit, upscale and control form shares (a preset only when it is one of Stability's)."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "output_format": request.output_format,
        "style_preset": request.style_preset if request.style_preset in STYLE_PRESETS else None,
    }


def _image_to_image(
    endpoint: str, fields: dict[str, Any], request: GenerationRequest
) -> dict[str, bytes | None]:
    """Turn ``fields`` into an image-to-image request when ``request`` has an init image; its files.

    sd3 switches ``mode`` and drops ``aspect_ratio`` (text-to-image only; the output keeps the
    image's shape); ultra takes ``image`` and ``strength`` beside its usual fields; core takes no image.
    ``strength`` is sent as given, 0.0 included.
    """
    if request.init_image is None:
        return {}
    if endpoint not in ("sd3", "ultra"):
        raise ValueError(f"generate/{endpoint} takes no init image")
    fields["strength"] = request.strength
    if endpoint == "sd3":
        fields["mode"] = "image-to-image"
        fields.pop("aspect_ratio", None)
    return {"image": request.init_image}


class StabilityClient(WaitsForResults, HttpProvider):
    """Client for ``api.stability.ai`` v2beta (or its simulator, through ``base_url``).

    Usage::

        with StabilityClient(api_key="sk-...", timeout=60.0) as stability:
            [image] = stability.generate(GenerationRequest(prompt="a fox", model="core"))
            pending = stability.submit_upscale(UpscaleRequest(mode="creative", image=data, prompt="..."))
            images = stability.poll(pending)  # None while in progress
    """

    name = "stability"
    default_model = "core"
    default_base_url = "https://api.stability.ai"
    #: Stability asks callers not to poll results more than once every 10 seconds.
    poll_interval_seconds = 10.0
    #: Stability asks every caller to name itself.
    headers: ClassVar[dict[str, str]] = {"stability-client-id": "imagestudio"}

    # -- generate --

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """One call per image (the API returns one); image ``i`` uses ``seed + i`` when a seed is set."""
        model = self._resolve_model(request.model, _GENERATE_ENDPOINTS)
        endpoint = _GENERATE_ENDPOINTS[model]
        aspect_ratio = nearest_aspect_ratio(
            STABILITY_ASPECT_RATIOS,
            aspect_ratio=request.aspect_ratio,
            width=request.width,
            height=request.height,
        )
        images = []
        for index in range(request.count):
            fields: dict[str, Any] = {
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                "aspect_ratio": aspect_ratio,
                "seed": request.seed + index if request.seed is not None else 0,
                "output_format": request.output_format,
            }
            if endpoint == "sd3":
                fields |= {"model": model, "mode": "text-to-image", "cfg_scale": request.guidance_scale}
            # Every generate endpoint takes webp and a style preset (sd3 too, as the v2beta OpenAPI says).
            if request.style_preset in STYLE_PRESETS:
                fields["style_preset"] = request.style_preset
            files = _image_to_image(endpoint, fields, request)
            response = self._post_form(f"/v2beta/stable-image/generate/{endpoint}", _form(fields, files))
            images.append(self._image_from(response, model=model))
        return images

    # -- edit and upscale --

    def edit(self, request: EditRequest) -> GeneratedImage:
        """Run a synchronous edit; ``replace-background-and-relight`` needs ``submit_edit`` instead."""
        if request.operation in _ASYNC_EDITS:
            raise ValueError(f"{request.operation} is asynchronous: use submit_edit() and poll()")
        response = self._post_form(f"/v2beta/stable-image/edit/{request.operation}", self._edit_form(request))
        return self._image_from(response, model=f"edit/{request.operation}")

    def submit_edit(self, request: EditRequest) -> PendingResult:
        """Start an asynchronous edit (relight) and return the handle to ``poll``."""
        if request.operation not in _ASYNC_EDITS:
            raise ValueError(f"{request.operation} is synchronous: use edit()")
        response = self._post_form(
            f"/v2beta/stable-image/edit/{request.operation}",
            self._edit_form(request),
            accept="application/json",
        )
        return self._pending(response, model=f"edit/{request.operation}", kind=f"edit:{request.operation}")

    def upscale(self, request: UpscaleRequest) -> GeneratedImage:
        """Run a fast or conservative upscale; ``creative`` needs ``submit_upscale`` instead."""
        if request.mode == "creative":
            raise ValueError("creative upscale is asynchronous: use submit_upscale() and poll()")
        response = self._post_form(
            f"/v2beta/stable-image/upscale/{request.mode}", self._upscale_form(request)
        )
        return self._image_from(response, model=f"upscale/{request.mode}")

    def submit_upscale(self, request: UpscaleRequest) -> PendingResult:
        """Start a creative upscale and return the handle to ``poll``."""
        if request.mode != "creative":
            raise ValueError(f"{request.mode} upscale is synchronous: use upscale()")
        response = self._post_form(
            "/v2beta/stable-image/upscale/creative", self._upscale_form(request), accept="application/json"
        )
        return self._pending(response, model="upscale/creative", kind="upscale:creative")

    # -- control --

    def control(self, request: ControlRequest) -> GeneratedImage:
        """Sketch, structure, style or style-transfer (``/v2beta/stable-image/control/{operation}``); synchronous."""
        response = self._post_form(
            f"/v2beta/stable-image/control/{request.operation}", self._control_form(request)
        )
        return self._image_from(response, model=f"control/{request.operation}")

    # -- async results --

    def poll(self, pending: PendingResult) -> list[GeneratedImage] | None:
        """``None`` while the result is in progress (202), the image once it is ready (200)."""
        response = self._send(
            "GET",
            f"/v2beta/results/{pending.remote_id}",
            expected=(200, 202, 500),
            headers={"accept": "image/*"},
        )
        if response.status_code == 500:
            # The results endpoint answers 500 for a generation that errored (a 502-504 is the
            # gateway or overload, where polling again is right): only a new submission can help.
            raise ProviderWorkFailed(
                f"{self.name} generation {pending.remote_id} failed: {self._reason(response)}",
                provider=self.name,
            )
        if response.status_code == 202:
            return None
        return [self._image_from(response, model=pending.model)]

    # -- internals --

    def _probe(self, model: str) -> Probe:
        """A form without prompt or image: a 400 naming them when the route (and the sd3 ``model``) is served."""
        endpoint = _GENERATE_ENDPOINTS.get(model)
        path = f"/v2beta/stable-image/generate/{endpoint}" if endpoint else f"/v2beta/stable-image/{model}"
        fields = {"model": model if endpoint == "sd3" else None, "output_format": "png"}
        return Probe("POST", path, {"files": _form(fields), "headers": {"accept": "image/*"}})

    def _probe_says_gone(self, response: httpx.Response) -> bool:
        # sd3 answers a model it no longer serves with a 400 naming the ``model`` field.
        return response.status_code == 400 and "model:" in self._reason(response)

    def _post_form(self, path: str, parts: _FormParts, *, accept: str = "image/*") -> httpx.Response:
        return self._send("POST", path, files=parts, headers={"accept": accept})

    def _edit_form(self, request: EditRequest) -> _FormParts:
        fields = _common_fields(request) | {
            "search_prompt": request.search_prompt,
            "select_prompt": request.select_prompt,
            "grow_mask": request.grow_mask,
            "creativity": request.creativity,
        }
        if request.operation == "outpaint":
            fields |= {"left": request.left, "right": request.right, "up": request.up, "down": request.down}
        image_field = "subject_image" if request.operation in _ASYNC_EDITS else "image"
        files = {
            image_field: request.image,
            "mask": request.mask,
            "background_reference": request.background_reference,
            "light_reference": request.light_reference,
        }
        if request.operation in _ASYNC_EDITS:
            fields["background_prompt"], fields["prompt"] = request.prompt, None
        return _form(fields, files)

    def _upscale_form(self, request: UpscaleRequest) -> _FormParts:
        return _form(_common_fields(request) | {"creativity": request.creativity}, {"image": request.image})

    def _control_form(self, request: ControlRequest) -> _FormParts:
        # ``_form`` drops only None and "": an explicit 0.0 strength is sent as "0.0".
        fields = _common_fields(request)
        if request.operation == "style-transfer":
            fields["style_preset"] = None  # style-transfer takes none
            fields |= {
                "style_strength": request.style_strength,
                "composition_fidelity": request.composition_fidelity,
                "change_strength": request.change_strength,
            }
            return _form(fields, {"init_image": request.image, "style_image": request.style_image})
        if request.operation == "style":
            fields |= {"fidelity": request.fidelity, "aspect_ratio": request.aspect_ratio}
        else:
            fields["control_strength"] = request.control_strength
        return _form(fields, {"image": request.image})

    def _pending(self, response: httpx.Response, *, model: str, kind: str) -> PendingResult:
        try:
            remote_id = str(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"{self.name} accepted async work without an id", provider=self.name) from exc
        return PendingResult(provider=self.name, model=model, remote_id=remote_id, kind=kind)

    def _image_from(self, response: httpx.Response, *, model: str) -> GeneratedImage:
        """The image in a 200 answer. ``finish-reason: CONTENT_FILTERED`` is a success Stability bills:
        the image comes blurred, and is delivered marked ``content_filtered`` (its moderation's
        refusal, charging nothing, is the 403)."""
        finish_reason = response.headers.get("finish-reason", "SUCCESS").upper()
        if finish_reason not in ("SUCCESS", "", "CONTENT_FILTERED"):
            raise ProviderError(f"{self.name} finished with {finish_reason}", provider=self.name)
        seed_header = response.headers.get("seed")
        seed = int(seed_header) if seed_header and seed_header.isdigit() else None
        image = self._image(response.content, model=model, seed=seed)
        if finish_reason == "CONTENT_FILTERED":
            return image.model_copy(update={"content_filtered": True})
        return image

    def _error_for(self, response: httpx.Response) -> ProviderError:
        if response.status_code == 429 and self._retry_after(response) is None:
            # More than 150 requests in 10 s locks the key out for 60 s, and the 429 says so in no
            # header (https://platform.stability.ai/docs/getting-started/rate-limits and the
            # v2beta OpenAPI's 429 response, checked 2026-12-07): a retry inside it is wasted.
            return ProviderRateLimited(
                f"{self.name} rate limited the key (locked out for {LOCKOUT_SECONDS:g} s): "
                f"{self._reason(response)}",
                retry_after=LOCKOUT_SECONDS,
                lockout_seconds=LOCKOUT_SECONDS,
                provider=self.name,
            )
        # Stability's 403 is always its content moderation, whatever the body says.
        if response.status_code == 403:
            return ProviderContentFiltered(
                f"{self.name} content moderation refused the request: {self._reason(response)}",
                provider=self.name,
            )
        return super()._error_for(response)
