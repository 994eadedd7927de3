"""The catalogue answers as models: what each studio offers, the templates, in the document's schemas.

Each studio builds its catalogue as plain data (``describe_operations()``, ``describe_modes()``,
``describe_options()``, ``Platform.describe()``, ``Template.describe()``); the route validates it into
the model here, so ``docs/openapi.json`` names every field a client may build a form from. The
models carry exactly those keys, in the same order: ``test_every_catalogue_answer_keeps_its_json``
holds the two in step. A form field's description stays an open object: it is a JSON Schema
fragment (type, enum, bounds, default, description), read from the studio's request model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A studio input as a catalogue describes it: ``type``, and where they apply ``enum``, ``minimum``,
#: ``maximum``, ``max_length``, ``default`` and ``description`` (``type: file`` for an image).
CatalogueField = dict[str, Any]
#: The paths a routed studio's job may take.
PathName = Literal["auto", "provider", "local"]


class _Read(BaseModel):
    """An answer: the fields below and nothing else."""

    model_config = ConfigDict(extra="forbid")


# --- limits and paths, shared by the routed studios (edit, upscale, control) --------------------


class ImageLimitsRead(_Read):
    """The image sizes a path accepts (``None``: no bound)."""

    min_side: int
    max_side: int | None
    min_pixels: int
    max_pixels: int
    aspect_ratio: str | None = Field(description="e.g. ``1:2.5 to 2.5:1``")


class ProviderLimitsRead(ImageLimitsRead):
    """A provider's limits, with the largest request it takes."""

    max_request_bytes: int


class NoLocalPathRead(_Read):
    """The operation has no local path."""

    available: Literal[False]


class ProviderPathRead(_Read):
    """The provider path of an operation or mode, and whether it can be had now."""

    name: str
    endpoint: str
    credits: int
    asynchronous: bool
    configured: bool
    healthy: bool
    simulated: bool | None
    limits: ProviderLimitsRead


# --- edit ----------------------------------------------------------------------------------------


class EditProviderRead(ProviderPathRead):
    """The provider path of an edit operation; general_edit says its per-model credits and limits."""

    credits_by_model: dict[str, int] | None = Field(default=None, description="general_edit: per model")
    model_limits: dict[str, ImageLimitsRead] | None = Field(
        default=None, description="general_edit: per model"
    )


class EditLocalPathRead(_Read):
    """The local path of an edit operation."""

    available: Literal[True]
    credits: int
    needs: list[str]
    notes: str
    limits: ImageLimitsRead


class EditOperationRead(_Read):
    id: str
    name: str
    description: str
    required: list[str]
    optional: list[str]
    inputs: dict[str, CatalogueField]
    needs_area: bool
    notes: str
    provider: EditProviderRead
    local: EditLocalPathRead | NoLocalPathRead
    paths: list[PathName]


class EditCatalogue(_Read):
    """``GET /edit/operations``: every operation, and every input any of them takes."""

    operations: list[EditOperationRead]
    fields: dict[str, CatalogueField]


# --- upscale -------------------------------------------------------------------------------------


class UpscaleTargetRead(_Read):
    """The output size: a scale, or about this many pixels."""

    scale: int | None
    pixels: int | None


class UpscaleLocalPathRead(_Read):
    available: Literal[True]
    credits: int
    notes: str
    limits: ImageLimitsRead


class UpscaleModeRead(_Read):
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


class UpscalePresetRead(_Read):
    id: str
    description: str
    prompt: str
    negative_prompt: str | None
    creativity: dict[str, float] = Field(description="Per mode")
    style_preset: str | None
    quality: int = Field(description="Encoder quality of the JPEG and WebP outputs encoded here")
    default: bool


class UpscaleCatalogue(_Read):
    """``GET /upscale/modes``: every mode, the quality presets, and every input."""

    modes: list[UpscaleModeRead]
    presets: list[UpscalePresetRead]
    fields: dict[str, CatalogueField]


# --- control -------------------------------------------------------------------------------------


class ControlProviderRead(_Read):
    name: str
    model: str
    credits: int
    asynchronous: bool
    configured: bool
    healthy: bool
    simulated: bool | None
    applies: list[str] = Field(description="The strengths this provider honours")
    limits: ProviderLimitsRead


class ControlOperationRead(_Read):
    id: str
    name: str
    description: str
    images: list[str]
    required: list[str]
    optional: list[str]
    inputs: dict[str, CatalogueField]
    defaults: dict[str, float]
    control_map: str | None = Field(description="The pre-processed image stored as output ``control_map``")
    providers: list[ControlProviderRead]
    available: bool


class ControlCatalogue(_Read):
    """``GET /control/operations``: every operation, and every input any of them takes."""

    operations: list[ControlOperationRead]
    fields: dict[str, CatalogueField]


# --- compress and convert ------------------------------------------------------------------------


class FormatRead(_Read):
    id: str
    compress: bool
    convert: bool
    available: bool
    lossless: bool
    alpha: bool
    animation: bool


class CompressPresetRead(_Read):
    id: str
    name: str
    format: str
    quality: int
    description: str


class RouteFieldsRead(_Read):
    credits: int
    fields: dict[str, CatalogueField]


class CompressLimitsRead(_Read):
    target_kb_qualities: list[int]
    target_ssim_qualities: list[int]
    max_encodes: int
    max_lossless_output_bytes: int


class CompressOptions(_Read):
    """``GET /compress/options``: the formats written here, the presets, both routes' fields, the limits."""

    formats: list[FormatRead]
    presets: list[CompressPresetRead]
    compress: RouteFieldsRead
    convert: RouteFieldsRead
    limits: CompressLimitsRead


class CompressPresets(_Read):
    """``GET /compress/presets``."""

    presets: list[CompressPresetRead]


# --- social --------------------------------------------------------------------------------------


class SafeZoneRead(_Read):
    """The fraction of each side a platform's overlays may cover."""

    top: float
    bottom: float
    left: float
    right: float


class SocialFormatRead(_Read):
    id: str
    key: str = Field(description="``<platform>.<format>``, as ``formats`` takes it")
    name: str
    width: int
    height: int
    aspect: str
    max_bytes: int
    safe_zone: SafeZoneRead
    notes: str
    source: str
    checked: str = Field(description="The day the source was checked")


class PlatformRead(_Read):
    """``GET /platform-specs/{platform}``: a platform's upload rules and formats."""

    id: str
    name: str
    aliases: list[str]
    file_types: list[str]
    max_bytes: int
    source: str
    checked: str
    formats: list[SocialFormatRead]


class PlatformList(_Read):
    """``GET /social/platforms``."""

    platforms: list[PlatformRead]


class PlatformFormats(_Read):
    """``GET /social/platforms/{platform}/formats``."""

    platform: str
    formats: list[SocialFormatRead]


# --- create templates ----------------------------------------------------------------------------


class TemplateRead(_Read):
    """``GET /templates/{template_id}``: one template."""

    id: str
    name: str
    platform: str
    category: str
    width: int
    height: int
    aspect_ratio: str
    description: str
    style_preset: str | None
    style_recommendations: list[str]
    suggested_providers: list[str]
    quality: str
    use_cases: list[str]
    tags: list[str]


class TemplateMatchRead(TemplateRead):
    """A template found by a search or a recommendation, with its score and why."""

    score: float
    reasons: list[str]


class TemplateList(_Read):
    """``GET /templates``."""

    count: int
    templates: list[TemplateRead]


class TemplateSearchResults(_Read):
    """``GET /templates/search``."""

    query: str
    count: int
    results: list[TemplateMatchRead]


class TemplateRecommendations(_Read):
    """``GET /templates/recommend``."""

    count: int
    results: list[TemplateMatchRead]
