"""``GET /upscale/modes`` as a model: every mode's inputs, limits, credits and paths, and the presets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imagestudio.studios.common.catalogue import (
    CatalogueField,
    CatalogueRead,
    ImageLimitsRead,
    NoLocalPathRead,
    PathName,
    ProviderPathRead,
)


class UpscaleTargetRead(CatalogueRead):
    """The output size: a scale, or about this many pixels."""

    scale: int | None
    pixels: int | None


class UpscaleLocalPathRead(CatalogueRead):
    available: Literal[True]
    credits: int
    notes: str
    limits: ImageLimitsRead


class UpscaleModeRead(CatalogueRead):
    id: str
    name: str
    description: str
    output: str
    required: list[str]
    optional: list[str]
    inputs: dict[str, CatalogueField]
    min_creativity: float | None
    max_creativity: float | None
    target: UpscaleTargetRead
    provider: ProviderPathRead
    local: UpscaleLocalPathRead | NoLocalPathRead
    paths: list[PathName]


class UpscalePresetRead(CatalogueRead):
    id: str
    description: str
    prompt: str
    negative_prompt: str | None
    creativity: dict[str, float] = Field(description="Per mode")
    style_preset: str | None
    quality: int = Field(description="Encoder quality of the JPEG and WebP outputs encoded here")
    default: bool


class UpscaleCatalogue(CatalogueRead):
    """``GET /upscale/modes``: every mode, the quality presets, and every input."""

    modes: list[UpscaleModeRead]
    presets: list[UpscalePresetRead]
    fields: dict[str, CatalogueField]
