"""The create studio's request: ``CreateRequest`` (the route, the batch entry and the estimate read it),
``CreateParams`` (what the job stores; the worker needs nothing else) and the limits both check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

from imagestudio.imaging.formats import OutputFormat
from imagestudio.providers.schemas import Quality, Seed
from imagestudio.providers.selection import Candidate
from imagestudio.providers.stability import STYLE_PRESETS
from imagestudio.studios.common.limits import STABILITY_LIMITS
from imagestudio.studios.common.request import ImageRef, StudioRequest

#: Longest prompt a client may send; enhancement and persona additions must still fit providers' 10,000.
MAX_PROMPT_CHARS = 2000
MIN_SIDE, MAX_SIDE = 64, 4096
#: Strength of an image-to-image request that gives none: halfway between the image and the prompt.
DEFAULT_STRENGTH = 0.5
#: Init images every image-to-image model takes (Stability sd3.5's published input limits; ultra's are wider).
INIT_IMAGE_LIMITS = STABILITY_LIMITS

StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]


class CreateRequest(StudioRequest):
    """``POST /create``: what to make, and optionally how (template, provider, persona)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"prompt": "a lighthouse at dawn, watercolour", "aspect_ratio": "16:9", "count": 2},
                {
                    "prompt": "product shot of a ceramic mug",
                    "template_id": "product_white_background",
                    "quality": "premium",
                },
            ]
        },
    )

    prompt: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS)
    ]
    negative_prompt: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_PROMPT_CHARS)] | None
    ) = None
    template_id: str | None = Field(default=None, max_length=100, description="See GET /templates")
    provider: Literal["auto", "stability", "wavespeed", "huggingface", "gemini"] = "auto"
    model: str | None = Field(default=None, max_length=100, description="A model id from GET /providers")
    width: int | None = Field(default=None, ge=MIN_SIDE, le=MAX_SIDE)
    height: int | None = Field(default=None, ge=MIN_SIDE, le=MAX_SIDE)
    aspect_ratio: str | None = Field(default=None, max_length=20, description="W:H, e.g. 16:9 or 1.91:1")
    style_preset: StylePreset | None = None
    quality: Quality = "standard"
    seed: Seed | None = Field(default=None, description="Image i uses seed + i")
    count: int = Field(default=1, ge=1, le=10, validation_alias=AliasChoices("count", "num_variations"))
    enhance_prompt: bool = False
    persona_id: str | None = Field(default=None, max_length=36)
    output_format: OutputFormat = "png"
    init_image: ImageRef | None = Field(
        default=None,
        description="Image-to-image: the image to start from (JPEG, PNG, WebP, ...). "
        "Only models that can are planned (image_to_image in GET /providers).",
    )
    strength: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Image-to-image: 0 keeps the init image, 1 ignores it (default {DEFAULT_STRENGTH}). "
        "Needs init_image.",
    )

    image_fields = ("init_image",)


class CreateParams(BaseModel):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    prompt: str
    styled_prompt: str
    negative_prompt: str | None
    prompt_original: str
    negative_prompt_original: str | None
    #: Every phrase added by enhancement or the persona, with its reason; and persona warnings.
    enhancement: dict[str, Any]
    template_id: str | None
    persona_id: str | None
    quality: Quality
    quality_source: Literal["request", "template", "default"]
    style_preset: str | None
    aspect_ratio: str
    ratio: float
    #: Exact output size; ``None`` keeps the provider's size (cropped to the exact ratio).
    width: int | None
    height: int | None
    count: int
    seed: int
    output_format: OutputFormat
    provider: str
    model: str | None
    candidates: list[Candidate]
    estimated_credits: int
    #: Image-to-image: the job's ``init_image`` input, its strength and its size.
    init_image: bool = False
    strength: float | None = None
    init_size: tuple[int, int] | None = None
