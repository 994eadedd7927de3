"""Upscale modes and presets: what each takes, the one request model, and the params stored on the job.

:data:`MODES` names each mode's Stability endpoint, limits and local path; :data:`PRESETS` what a
quality preset fills in. :class:`UpscaleRequest` is the one model the route, the batch entry and
``GET /upscale/modes`` read; :class:`UpscaleParams` is what the job stores once
:func:`imagestudio.studios.upscale.prepare` has judged and planned the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from imagestudio.imaging.formats import OutputFormat
from imagestudio.providers.registry import find_model
from imagestudio.providers.schemas import UPSCALE_CREATIVITY, Seed
from imagestudio.studios.common import catalogue
from imagestudio.studios.common.limits import STABILITY_SHAPED, ImageLimits
from imagestudio.studios.common.request import EXAMPLE_UPLOAD, ImageRef, ImageRequest, examples
from imagestudio.studios.common.routes import Path, RoutedParams, whole_credits

ModeName = Literal["fast", "conservative", "creative"]
PresetName = Literal["faithful", "balanced", "enhanced"]

OUTPUT_NAME = "upscaled"
LOCAL_CREDITS = 0
MAX_PROMPT_CHARS = 10_000
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
    #: Stability's range for the mode (conservative 0.2-0.5, creative 0.1-; our creative stops at 0.35).
    min_creativity: float | None = None
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
            limits=STABILITY_SHAPED,
            optional=("prompt", "negative_prompt", "creativity", "seed", *_COMMON),
            min_creativity=UPSCALE_CREATIVITY["conservative"][0],
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
            min_creativity=UPSCALE_CREATIVITY["creative"][0],
            max_creativity=0.35,
            target_pixels=CONSERVATIVE_PIXELS,
            asynchronous=True,
        ),
    )
}


class UpscaleRequest(ImageRequest):
    """``POST /upscale``: the image, the mode and its options (see ``GET /upscale/modes``)."""

    model_config = examples(
        {"image": EXAMPLE_UPLOAD, "mode": "fast"},
        {"image": EXAMPLE_UPLOAD, "mode": "conservative", "preset": "faithful", "output_format": "webp"},
    )

    image: ImageRef | None = Field(default=None, description="The image to upscale.")
    mode: ModeName = Field(default="fast", description="fast (4x) | conservative | creative")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Default: the preset's."
    )
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Default: the preset's."
    )
    creativity: float | None = Field(default=None, ge=0, le=0.5, description="creative: at most 0.35.")
    seed: Seed | None = None
    output_format: OutputFormat = "png"
    preset: PresetName | None = Field(default=None, description="faithful | balanced | enhanced")
    path: Path = Field(default="auto", description="auto | provider | local")

    def options_given(self) -> list[str]:
        """The mode-dependent options the client sent (each mode takes only some)."""
        names = ("prompt", "negative_prompt", "creativity", "seed")
        return [name for name in names if getattr(self, name) not in (None, "")]


#: Every input, as ``GET /upscale/modes`` describes it.
FIELDS: dict[str, dict[str, Any]] = UpscaleRequest.catalogue_fields(preset={"default": DEFAULT_PRESET})


class UpscaleParams(RoutedParams):
    """The validated, resolved request stored on the job (``prompt``: the preset's where the request said nothing)."""

    mode: ModeName
    path: Path
    preset: PresetName
    creativity: float | None = None
    quality: int = 92


# --- the catalogue's answer (GET /upscale/modes), in docs/openapi.json ---


class UpscaleTargetRead(catalogue.CatalogueRead):
    """The output size: a scale, or about this many pixels."""

    scale: int | None
    pixels: int | None


class UpscaleLocalPathRead(catalogue.CatalogueRead):
    available: Literal[True]
    credits: int
    notes: str
    limits: catalogue.ImageLimitsRead


class UpscaleModeRead(catalogue.CatalogueRead):
    id: str
    name: str
    description: str
    output: str
    required: list[str]
    optional: list[str]
    inputs: dict[str, catalogue.CatalogueField]
    min_creativity: float | None
    max_creativity: float | None
    target: UpscaleTargetRead
    provider: catalogue.ProviderPathRead
    local: UpscaleLocalPathRead | catalogue.NoLocalPathRead
    paths: list[catalogue.PathName]


class UpscalePresetRead(catalogue.CatalogueRead):
    id: str
    description: str
    prompt: str
    negative_prompt: str | None
    creativity: dict[str, float] = Field(description="Per mode")
    style_preset: str | None
    quality: int = Field(description="Encoder quality of the JPEG and WebP outputs encoded here")
    default: bool


class UpscaleCatalogue(catalogue.CatalogueRead):
    """``GET /upscale/modes``: every mode, the quality presets, and every input."""

    modes: list[UpscaleModeRead]
    presets: list[UpscalePresetRead]
    fields: dict[str, catalogue.CatalogueField]
