"""Upscale studio: fast 4x, conservative (to about 4 MP) and creative, on Stability or locally.

Modes (Stability v2beta ``upscale/{mode}``):

- ``fast``: exactly 4x. Local path: Lanczos refined by back-projection (:mod:`imagestudio.imaging.upscale`).
- ``conservative``: to about 4 MP, keeping details. Local path: the same resampling to 4 MP.
- ``creative``: re-imagines detail; asynchronous at the provider (submit, then ``upscale.poll``
  messages, see :mod:`imagestudio.studios.common.polling`). No local path.

A quality ``preset`` fills the prompt, negative prompt, creativity (and, creative only, a style
preset) that Stability requires, and the encoder quality of re-encoded outputs; any of them sent
explicitly wins, an explicit ``0`` included (the seed turned ``creativity=0`` into the default).
Every refusal happens in :func:`prepare`, before anything is stored or queued.

This module is the studio's shape (:mod:`imagestudio.studios.common.base`), its planning, pricing and
catalogue; the modes, presets and request model are in :mod:`~imagestudio.studios.upscale.modes`,
the worker half (``run``, ``poll``, the local and provider paths, delivery) in
:mod:`~imagestudio.studios.upscale.run`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from imagestudio.errors import ValidationFailed
from imagestudio.studios.common import routed
from imagestudio.studios.common.base import Images
from imagestudio.studios.common.deployment import WorkerDeployment
from imagestudio.studios.common.http_routes import CatalogueRoute, SubmitRoute, example_status
from imagestudio.studios.common.limits import PROVIDER_MAX_REQUEST_BYTES, check_request_bytes
from imagestudio.studios.common.routes import LOCAL, Route, provider_status
from imagestudio.studios.upscale.modes import (
    CONSERVATIVE_PIXELS,
    DEFAULT_PRESET,
    FIELDS,
    LOCAL_CREDITS,
    MODES,
    PRESETS,
    Mode,
    UpscaleCatalogue,
    UpscaleParams,
    UpscaleRequest,
)
from imagestudio.studios.upscale.run import poll, run

#: The studio's name: its jobs, queue and actors.
name = "upscale"
#: Its worker's CPU and scaling (``imagestudio deploy render``). The local fast upscale is CPU-bound: a whole core each, a short queue per replica.
WORKER = WorkerDeployment(cpu_request="1", max_replicas=6, queue_length=4)
#: The studio's request model (:class:`~imagestudio.studios.common.base.Studio`).
Request = UpscaleRequest

__all__ = [
    "ROUTE",
    "CATALOGUES",
    "list_modes",
    "WORKER",
    "MODES",
    "PRESETS",
    "Request",
    "UpscaleParams",
    "UpscaleRequest",
    "check",
    "estimate",
    "name",
    "describe_modes",
    "poll",
    "prepare",
    "price",
    "run",
]


def check(request: UpscaleRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the mode does not use, creativity out of its range."""
    _mode(request, files=files)


def _mode(form: UpscaleRequest, *, files: Collection[str]) -> Mode:
    mode = MODES[form.mode]
    for name in form.options_given():
        if name not in mode.optional:
            takes = ", ".join(mode.optional)
            raise ValidationFailed(name, f"{mode.id} upscale does not use {name}; it takes {takes}")
    if "image" not in files:
        raise ValidationFailed("image", "the image to upscale is required")
    if form.creativity is not None and mode.max_creativity is not None:
        low = mode.min_creativity or 0.0
        if not low <= form.creativity <= mode.max_creativity:
            raise ValidationFailed(
                "creativity", f"{mode.id} upscale takes creativity {low:g} to {mode.max_creativity:g}"
            )
    if form.path == "local" and mode.local_limits is None:
        raise ValidationFailed("path", f"{mode.id} upscale has no local path; use path=provider or auto")
    return mode


def _routes(mode: Mode) -> tuple[Route, Route | None]:
    """The mode's Stability route and its local route (None when it has no local path)."""
    provider = Route(
        provider="stability", model=mode.model, credits=mode.credits, asynchronous=mode.asynchronous
    )
    local = (
        Route(provider=LOCAL, model=f"local/{mode.id}", credits=LOCAL_CREDITS) if mode.local_limits else None
    )
    return provider, local


def _judge(form: UpscaleRequest, files: Images) -> routed.Judged:
    """Validate against the mode's provider and local limits, resolve the preset."""
    mode = _mode(form, files=files)
    image, info = files["image"]
    width, height = info.width, info.height
    preset = PRESETS[form.preset or DEFAULT_PRESET]
    prompted = mode.id != "fast"

    def provider_checks() -> None:
        mode.limits.check(field="image", width=width, height=height, who=f"stability {mode.model}")
        check_request_bytes({"image": image.size_bytes}, who="stability")

    def local_checks() -> None:
        assert mode.local_limits is not None
        if mode.id == "conservative" and width * height >= CONSERVATIVE_PIXELS:
            raise ValidationFailed(
                "image",
                f"{width}x{height} is already at or above conservative's 4 MP target; use mode=fast for 4x",
            )
        mode.local_limits.check(field="image", width=width, height=height, who=f"the local {mode.id} path")

    plan = routed.two_routes(
        path=form.path,
        what=_what(mode),
        routes=_routes(mode),
        provider_checks=provider_checks,
        local_checks=local_checks,
    )
    fields = {
        "mode": mode.id,
        "path": form.path,
        "preset": preset.id,
        "prompt": (form.text("prompt") or preset.prompt) if prompted else None,
        "negative_prompt": (form.text("negative_prompt") or preset.negative_prompt) if prompted else None,
        "creativity": (form.creativity if form.creativity is not None else preset.creativity[mode.id])
        if prompted
        else None,
        "seed": form.seed,
        "style_preset": preset.style_preset if mode.id == "creative" else None,
        "output_format": form.output_format,
        "quality": preset.quality,
    }
    return routed.Judged(plan=plan, image_size=(width, height), images=[image], fields=fields)


def _priced(asked: UpscaleRequest) -> tuple[str, routed.Plan]:
    """An upscale as an estimate plans it: the mode, its Stability route and its local one."""
    mode = MODES[asked.mode]
    return _what(mode), routed.two_routes(path=asked.path, what=_what(mode), routes=_routes(mode))


def _what(mode: Mode) -> str:
    """The job as refusals and estimates name it."""
    return f"{mode.id} upscale"


#: Submission: judged here, planned for the tier and the providers' health, priced at the dearest route.
STUDIO = routed.RoutedStudio("upscale", UpscaleRequest, UpscaleParams, judge=_judge, priced=_priced)
prepare = STUDIO.prepare
estimate = STUDIO.estimate
price = routed.price


def describe_modes(status: Any = provider_status) -> dict[str, Any]:
    """``GET /upscale/modes``: each mode's inputs, limits, credits and paths, and the presets."""
    stability = status("stability")
    modes = []
    for mode in MODES.values():
        modes.append(
            {
                "id": mode.id,
                "name": mode.name,
                "description": mode.description,
                "output": mode.output,
                "required": ["image"],
                "optional": list(mode.optional),
                "inputs": {name: FIELDS[name] for name in ("image", *mode.optional)},
                "min_creativity": mode.min_creativity,
                "max_creativity": mode.max_creativity,
                "target": {"scale": mode.target_scale, "pixels": mode.target_pixels},
                "provider": {
                    "name": "stability",
                    "endpoint": mode.model,
                    "credits": mode.credits,
                    "asynchronous": mode.asynchronous,
                    "configured": stability.configured,
                    "healthy": stability.healthy,
                    "simulated": stability.simulated,
                    "limits": {**mode.limits.describe(), "max_request_bytes": PROVIDER_MAX_REQUEST_BYTES},
                },
                "local": (
                    {
                        "available": True,
                        "credits": LOCAL_CREDITS,
                        "notes": mode.local_notes,
                        "limits": mode.local_limits.describe(),
                    }
                    if mode.local_limits is not None
                    else {"available": False}
                ),
                "paths": ["auto", "provider", *(["local"] if mode.local_limits is not None else [])],
            }
        )
    presets = [
        {
            "id": p.id,
            "description": p.description,
            "prompt": p.prompt,
            "negative_prompt": p.negative_prompt,
            "creativity": p.creativity,
            "style_preset": p.style_preset,
            "quality": p.quality,
            "default": p.id == DEFAULT_PRESET,
        }
        for p in PRESETS.values()
    ]
    return {"modes": modes, "presets": presets, "fields": FIELDS}


def list_modes() -> UpscaleCatalogue:
    """Every upscale mode (inputs, limits, credits, local path) and the quality presets."""
    return UpscaleCatalogue.model_validate(describe_modes())


#: The gateway's routes for this studio (``studios/common/http_routes.py``).
ROUTE = SubmitRoute(
    "/upscale",
    "submit_upscale",
    """Accept an upscale job (202). Modes, limits, presets and paths: GET /upscale/modes.

    The body is a multipart form with the image file, or JSON naming an upload. Creative is
    asynchronous at the provider: the job stays ``running`` while it is polled. Images outside
    the mode's limits, options the mode does not use, and a mode no configured provider nor the
    local path can serve are refused before anything is stored or queued.
    """,
)
CATALOGUES = (
    CatalogueRoute(path="/upscale/modes", read=list_modes, example=lambda: describe_modes(example_status)),
)
