"""Upscale studio: fast 4x, conservative (to about 4 MP) and creative, on Stability or locally.

Modes (Stability v2beta ``upscale/{mode}``):

- ``fast``: exactly 4x. Local path: Lanczos refined by back-projection (:mod:`imagestudio.imaging.upscale`).
- ``conservative``: to about 4 MP, keeping details. Local path: the same resampling to 4 MP.
- ``creative``: re-imagines detail; asynchronous at the provider (submit, then ``upscale.poll``
  messages, see :mod:`imagestudio.studios.polling`). No local path.

A quality ``preset`` fills the prompt, negative prompt, creativity (and, creative only, a style
preset) that Stability requires, and the encoder quality of re-encoded outputs; any of them sent
explicitly wins, an explicit ``0`` included (the seed turned ``creativity=0`` into the default).
Every refusal happens in :func:`prepare`, before anything is stored or queued.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from imagestudio.errors import ValidationFailed
from imagestudio.jobs.runner import JobContext
from imagestudio.messaging import Queue
from imagestudio.providers.protocols import as_upscaler
from imagestudio.providers.registry import ProviderClient, find_model
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.providers.schemas import UpscaleRequest as ProviderUpscaleRequest
from imagestudio.studios import routed
from imagestudio.studios.base import Images, Prepared
from imagestudio.studios.limits import (
    PROVIDER_MAX_REQUEST_BYTES,
    STABILITY_ASPECT,
    ImageLimits,
    check_request_bytes,
)
from imagestudio.studios.polling import poll_pending
from imagestudio.studios.pricing import Estimate, register
from imagestudio.studios.produced import Produced, in_format
from imagestudio.studios.request import StudioRequest, UploadId
from imagestudio.studios.routes import LOCAL, Path, Route, credits_of, provider_status, whole_credits

#: The studio's name: its jobs, queue and actors.
name = "upscale"

__all__ = [
    "MODES",
    "PRESETS",
    "Request",
    "UpscaleParams",
    "UpscaleRequest",
    "check",
    "name",
    "describe_modes",
    "poll",
    "prepare",
    "price",
    "run",
]

ModeName = Literal["fast", "conservative", "creative"]
PresetName = Literal["faithful", "balanced", "enhanced"]
OutputFormat = Literal["png", "jpeg", "webp"]

OUTPUT_NAME = "upscaled"
LOCAL_CREDITS = 0
MAX_PROMPT_CHARS = 10_000
MAX_SEED = 4_294_967_294
#: Conservative's target: about 4 MP (Stability's output size; 2048 x 2048).
CONSERVATIVE_PIXELS = 4_194_304
#: Fast's factor on each side.
FAST_SCALE = 4
#: The local fast path builds at most 8192 x 8192, so its input is at most a quarter of each side.
_LOCAL_FAST_MAX_PIXELS = 8192 * 8192 // 16


@dataclass(frozen=True)
class Preset:
    """A quality preset: what the provider is asked for when the request does not say."""

    id: str
    description: str
    prompt: str
    negative_prompt: str | None
    #: Creativity per mode (conservative 0..0.5, creative 0..0.35).
    creativity: dict[str, float]
    #: Encoder quality of JPEG/WebP outputs we encode (local path, format conversions).
    quality: int
    style_preset: str | None = None


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset(
            id="faithful",
            description="Stay as close to the original as possible: low creativity, highest encoder quality.",
            prompt="High fidelity upscale preserving original details",
            negative_prompt="blurry, noisy, artifacts, oversharpened, distorted",
            creativity={"conservative": 0.2, "creative": 0.1},
            quality=95,
        ),
        Preset(
            id="balanced",
            description="The default: crisp detail with moderate invention.",
            prompt="Sharp, detailed, high resolution image",
            negative_prompt="blurry, artifacts",
            creativity={"conservative": 0.35, "creative": 0.3},
            quality=92,
        ),
        Preset(
            id="enhanced",
            description="Let the model add detail and texture (creative uses the 'enhance' style).",
            prompt="Creative upscale with enhanced artistic details",
            negative_prompt=None,
            creativity={"conservative": 0.5, "creative": 0.35},
            quality=90,
            style_preset="enhance",
        ),
    )
}
DEFAULT_PRESET = "balanced"


@dataclass(frozen=True)
class Mode:
    """One upscale mode: Stability's endpoint and limits, and the local path if there is one."""

    id: str
    name: str
    description: str
    output: str
    limits: ImageLimits
    optional: tuple[str, ...]
    max_creativity: float | None = None
    asynchronous: bool = False
    local_limits: ImageLimits | None = None
    local_notes: str = ""
    #: The output's size: ``scale`` times each side, else about ``pixels`` in all (aspect kept).
    target_scale: int | None = None
    target_pixels: int | None = None

    @property
    def model(self) -> str:
        return f"upscale/{self.id}"

    @property
    def credits(self) -> int:
        info = find_model("stability", self.model)
        assert info is not None, f"stability {self.model} is missing from the registry"
        return whole_credits(info.credits_per_image)


_COMMON = ("output_format", "preset", "path")
MODES: dict[str, Mode] = {
    m.id: m
    for m in (
        Mode(
            id="fast",
            name="Fast 4x",
            description="Exactly four times the width and height, in about a second.",
            output="4x the input",
            limits=ImageLimits(min_side=32, max_side=1536, min_pixels=1_024, max_pixels=1_048_576),
            optional=_COMMON,
            target_scale=FAST_SCALE,
            local_limits=ImageLimits(min_side=8, min_pixels=64, max_pixels=_LOCAL_FAST_MAX_PIXELS),
            local_notes="Lanczos refined by regularised back-projection (beats bicubic on PSNR); exactly 4x.",
        ),
        Mode(
            id="conservative",
            name="Conservative",
            description="Up to about 4 MP, keeping the original's details.",
            output="about 4 MP (2048 x 2048 for a square)",
            limits=ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184, aspect=STABILITY_ASPECT),
            optional=("prompt", "negative_prompt", "creativity", "seed", *_COMMON),
            max_creativity=0.5,
            target_pixels=CONSERVATIVE_PIXELS,
            local_limits=ImageLimits(min_side=8, min_pixels=64, max_pixels=CONSERVATIVE_PIXELS - 1),
            local_notes="The fast path's resampling to about 4 MP; prompt and creativity are not used.",
        ),
        Mode(
            id="creative",
            name="Creative",
            description="Up to about 4 MP, re-imagining detail from the prompt (for small, degraded images).",
            output="about 4 MP",
            limits=ImageLimits(min_side=64, min_pixels=4_096, max_pixels=1_048_576),
            optional=("prompt", "negative_prompt", "creativity", "seed", *_COMMON),
            max_creativity=0.35,
            target_pixels=CONSERVATIVE_PIXELS,
            asynchronous=True,
        ),
    )
}


class UpscaleRequest(StudioRequest):
    """``POST /upscale``: the image, the mode and its options (see ``GET /upscale/modes``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19", "mode": "fast"},
                {
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "mode": "conservative",
                    "preset": "faithful",
                    "output_format": "webp",
                },
            ]
        }
    )

    image_fields = ("image",)
    required_images = ("image",)

    image: UploadId | None = Field(default=None, description="The image to upscale.")
    mode: ModeName = Field(default="fast", description="fast (4x) | conservative | creative")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Default: the preset's."
    )
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Default: the preset's."
    )
    creativity: float | None = Field(default=None, ge=0, le=0.5, description="creative: at most 0.35.")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    output_format: OutputFormat = "png"
    preset: PresetName | None = Field(default=None, description="faithful | balanced | enhanced")
    path: Path = Field(default="auto", description="auto | provider | local")

    def given(self) -> list[str]:
        names = ("prompt", "negative_prompt", "creativity", "seed")
        return [name for name in names if getattr(self, name) not in (None, "")]


#: Every input, as ``GET /upscale/modes`` describes it.
FIELDS: dict[str, dict[str, Any]] = UpscaleRequest.catalogue_fields(preset={"default": DEFAULT_PRESET})
Request = UpscaleRequest


class UpscaleParams(BaseModel):
    """The validated, resolved request stored on the job."""

    model_config = ConfigDict(extra="ignore")

    mode: ModeName
    path: Path
    preset: PresetName
    routes: list[Route]
    skipped: list[dict[str, str]] = []
    #: What the provider is asked (the preset's where the request said nothing).
    prompt: str | None = None
    negative_prompt: str | None = None
    creativity: float | None = None
    seed: int | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"
    quality: int = 92
    image_size: tuple[int, int]
    estimated_credits: int


def check(request: UpscaleRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the mode does not use, creativity out of its range."""
    _mode(request, files=files)


def _mode(form: UpscaleRequest, *, files: Collection[str]) -> Mode:
    mode = MODES[form.mode]
    for name in form.given():
        if name not in mode.optional:
            takes = ", ".join(mode.optional)
            raise ValidationFailed(name, f"{mode.id} upscale does not use {name}; it takes {takes}")
    if "image" not in files:
        raise ValidationFailed("image", "the image to upscale is required")
    if (
        form.creativity is not None
        and mode.max_creativity is not None
        and form.creativity > mode.max_creativity
    ):
        raise ValidationFailed(
            "creativity", f"{mode.id} upscale takes creativity up to {mode.max_creativity}"
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


def prepare(
    session: Session,
    *,
    tenant_id: str,
    request: UpscaleRequest,
    images: Images,
    status: Any = provider_status,
) -> Prepared:
    """Validate against the mode's provider and local limits, resolve the preset, plan the routes."""
    form, files = request, images
    mode = _mode(form, files=files)
    image, info = files["image"]
    width, height = info.width, info.height
    preset = PRESETS[form.preset or DEFAULT_PRESET]
    prompted = mode.id != "fast"

    def provider_checks() -> None:
        mode.limits.check(field="image", width=width, height=height, who=f"stability {mode.model}")
        check_request_bytes({"image": len(image.data)}, who="stability")

    def local_checks() -> None:
        assert mode.local_limits is not None
        if mode.id == "conservative" and width * height >= CONSERVATIVE_PIXELS:
            raise ValidationFailed(
                "image",
                f"{width}x{height} is already at or above conservative's 4 MP target; use mode=fast for 4x",
            )
        mode.local_limits.check(field="image", width=width, height=height, who=f"the local {mode.id} path")

    routes, skipped = routed.plan(
        session,
        tenant_id=tenant_id,
        path=form.path,
        what=f"{mode.id} upscale",
        routes=_routes(mode),
        provider_checks=provider_checks,
        local_checks=local_checks,
        status=status,
    )
    params = UpscaleParams(
        mode=mode.id,
        path=form.path,
        preset=preset.id,
        routes=routes,
        skipped=skipped,
        prompt=(form.text("prompt") or preset.prompt) if prompted else None,
        negative_prompt=(form.text("negative_prompt") or preset.negative_prompt) if prompted else None,
        creativity=(form.creativity if form.creativity is not None else preset.creativity[mode.id])
        if prompted
        else None,
        seed=form.seed,
        style_preset=preset.style_preset if mode.id == "creative" else None,
        output_format=form.output_format,
        quality=preset.quality,
        image_size=(width, height),
        estimated_credits=credits_of(routes),
    )
    return Prepared(params=params, images=[image], cost=price(params), provider=routes[0].provider)


def price(params: UpscaleParams) -> int:
    """Credits an upscale job reserves: its dearest route (only the route that served is captured)."""
    return params.estimated_credits


class UpscaleEstimateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mode: ModeName = "fast"
    path: Path = "auto"


@register("upscale")
def _price_request(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price an upscale as :func:`prepare` would plan it now (configuration, tier, circuit state)."""
    asked = UpscaleEstimateRequest.model_validate(request)
    mode = MODES[asked.mode]
    return routed.estimate(
        "upscale", what=f"{mode.id} upscale", path=asked.path, routes=_routes(mode), allowed=allowed
    )


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


# --- the worker ----------------------------------------------------------------------------------


def run(ctx: JobContext) -> None:
    """Serve one upscale job; creative submits and leaves the wait to ``upscale.poll`` messages."""
    params = UpscaleParams.model_validate(ctx.params)
    routed.run_routes(
        ctx,
        params.routes,
        output=OUTPUT_NAME,
        queue=Queue.upscale,
        read_inputs=lambda: {"image": ctx.read_input("image")},
        local=lambda inputs: _local(params, inputs["image"]),
        provider=lambda client, route, ready: _provider(client, params, ready["image"]),
        deliver=deliver,
    )


def poll(job_id: str, *, seq: int) -> None:
    """One poll of a creative upscale (``upscale.poll``)."""
    poll_pending(job_id, seq=seq, queue=Queue.upscale, deliver=deliver)


def _local(params: UpscaleParams, image: bytes) -> bytes:
    from imagestudio.imaging.upscale import upscale_fast, upscale_to_pixels

    if params.mode == "fast":
        return upscale_fast(
            image, scale=FAST_SCALE, output_format=params.output_format, quality=params.quality
        )
    return upscale_to_pixels(
        image, target_pixels=CONSERVATIVE_PIXELS, output_format=params.output_format, quality=params.quality
    )


def _provider(client: ProviderClient, params: UpscaleParams, image: bytes) -> GeneratedImage | PendingResult:
    request = ProviderUpscaleRequest(
        mode=params.mode,
        image=image,
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        creativity=params.creativity,
        seed=params.seed,
        style_preset=params.style_preset,
        output_format=params.output_format,
    )
    upscaler = as_upscaler(client)
    return upscaler.submit_upscale(request) if params.mode == "creative" else upscaler.upscale(request)


def deliver(ctx: JobContext, produced: Produced) -> None:
    """Store the upscaled image with how it was made and the scale it reached."""
    params = UpscaleParams.model_validate(ctx.params)
    data, content_type, fmt, ext = in_format(produced, params.output_format, quality=params.quality)
    width, height = params.image_size
    ctx.add_output(
        OUTPUT_NAME,
        data,
        ext=ext,
        content_type=content_type,
        format=fmt,
        width=produced.width,
        height=produced.height,
        metadata={
            **produced.metadata(),
            "mode": params.mode,
            "preset": params.preset,
            "input_size": [width, height],
            "scale": round(produced.width / width, 3),
            "skipped": params.skipped,
            "notes": MODES[params.mode].local_notes if produced.route.local else "",
        },
        provider=produced.route.provider,
        prompt=params.prompt,
    )
