"""The edit operation table: each operation's inputs, provider endpoint and limits, and local path.

The one source for ``GET /edit/operations``, the validation at submission and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from imagestudio.providers.registry import CATALOGUE, find_model
from imagestudio.providers.schemas import MAX_GROW_MASK as PROVIDER_MAX_GROW_MASK
from imagestudio.providers.stability import STYLE_PRESETS
from imagestudio.studios.common.catalogue import (
    CatalogueField,
    CatalogueRead,
    ImageLimitsRead,
    NoLocalPathRead,
    PathName,
    ProviderPathRead,
)
from imagestudio.studios.common.limits import STABILITY_LIMITS, STABILITY_SHAPED, ImageLimits
from imagestudio.studios.common.routes import LOCAL, Route, whole_credits

OperationName = Literal[
    "remove_background",
    "inpaint",
    "outpaint",
    "search_replace",
    "search_recolor",
    "erase",
    "replace_background_relight",
    "general_edit",
]
StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]

#: Name of the one output an edit job makes.
OUTPUT_NAME = "edited"
#: Credits of the local path: local pixel work is free (as social is).
LOCAL_CREDITS = 0
MAX_PROMPT_CHARS = 10_000
MAX_MARGIN = 2000
#: Stability's grow_mask range (0-20): a larger one is its 400 after the call; the local path keeps the same range.
MAX_GROW_MASK = PROVIDER_MAX_GROW_MASK
#: WaveSpeed edit models we offer for general_edit (the registry's), cheapest first.
GENERAL_EDIT_MODELS: tuple[str, ...] = tuple(
    info.model
    for info in sorted(CATALOGUE, key=lambda i: i.credits_per_image)
    if info.provider == "wavespeed" and info.kind == "edit"
)
DEFAULT_GENERAL_EDIT_MODEL = "qwen-edit"

#: Inputs every operation takes.
COMMON_FIELDS = ("output_format", "path")
UPLOAD_FIELDS = ("image", "mask", "background_reference", "light_reference")


@dataclass(frozen=True)
class LocalPath:
    """How an operation runs without a provider."""

    limits: ImageLimits
    #: What the local path needs beyond the image, in words.
    needs: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Operation:
    """One edit operation: its inputs, its provider endpoint and limits, its local path."""

    id: str
    name: str
    description: str
    provider: Literal["stability", "wavespeed"]
    #: Stability's operation (``/v2beta/stable-image/edit/{endpoint}``); None for WaveSpeed models.
    endpoint: str | None
    #: Inputs the provider path needs (the local path's needs are in ``local.needs``).
    required: tuple[str, ...]
    optional: tuple[str, ...]
    limits: ImageLimits
    asynchronous: bool = False
    #: A mask upload or transparent pixels in the image select the area (every path).
    needs_area: bool = False
    local: LocalPath | None = None
    notes: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.required, *self.optional, *COMMON_FIELDS)

    def provider_model(self, model: str | None = None) -> str:
        return f"edit/{self.endpoint}" if self.endpoint else (model or DEFAULT_GENERAL_EDIT_MODEL)

    def provider_credits(self, model: str | None = None) -> int:
        info = find_model(self.provider, self.provider_model(model))
        assert info is not None, f"{self.provider} {self.provider_model(model)} is missing from the registry"
        return whole_credits(info.credits_per_image)


#: Local edits hold a few float copies of the image: 16 MP keeps a worker well under a gigabyte.
_LOCAL_LIMITS = ImageLimits(min_side=16, min_pixels=256, max_pixels=16_777_216)

OPERATIONS: dict[str, Operation] = {
    op.id: op
    for op in (
        Operation(
            id="remove_background",
            name="Remove background",
            description="Cut the subject out onto transparency (JPEG: onto white).",
            provider="stability",
            endpoint="remove-background",
            required=("image",),
            optional=(),
            limits=ImageLimits(min_side=64, min_pixels=4_096, max_pixels=4_194_304),
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                notes="GrabCut segmentation from a backdrop colour prior, refined on the alpha edge.",
            ),
        ),
        Operation(
            id="inpaint",
            name="Inpaint & fix",
            description="Repaint the masked area from the prompt.",
            provider="stability",
            endpoint="inpaint",
            required=("image", "prompt"),
            optional=("mask", "negative_prompt", "grow_mask", "seed", "style_preset"),
            limits=STABILITY_LIMITS,
            needs_area=True,
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                needs=("mask or transparent pixels",),
                notes="Fills the area from its surroundings (OpenCV inpainting); the prompt is not used.",
            ),
        ),
        Operation(
            id="outpaint",
            name="Outpaint",
            description="Extend the canvas by the margins and paint what lies beyond.",
            provider="stability",
            endpoint="outpaint",
            required=("image",),
            optional=("left", "right", "up", "down", "prompt", "creativity", "seed", "style_preset"),
            limits=STABILITY_SHAPED,
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                needs=("at least one margin", "a canvas of at most 8192 x 8192"),
                notes="Continues the image by mirroring its edges into a widening blur; the prompt is not used.",
            ),
            notes="At least one of left, right, up, down must be above 0.",
        ),
        Operation(
            id="search_replace",
            name="Search & replace",
            description="Find what search_prompt names and replace it with the prompt.",
            provider="stability",
            endpoint="search-and-replace",
            required=("image", "prompt", "search_prompt"),
            optional=("negative_prompt", "grow_mask", "seed", "style_preset"),
            limits=STABILITY_SHAPED,
        ),
        Operation(
            id="search_recolor",
            name="Search & recolour",
            description="Find what select_prompt names and recolour it as the prompt says.",
            provider="stability",
            endpoint="search-and-recolor",
            required=("image", "prompt", "select_prompt"),
            optional=("mask", "negative_prompt", "grow_mask", "seed", "style_preset"),
            limits=STABILITY_SHAPED,
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                needs=(
                    "mask or transparent pixels (the area)",
                    "a colour in the prompt (#rrggbb or a CSS name)",
                ),
                notes="Sets the area's hue and chroma to the colour, keeping its lightness; select_prompt is not used.",
            ),
        ),
        Operation(
            id="erase",
            name="Erase",
            description="Remove what the mask covers (or the object under a point) and fill its place.",
            provider="stability",
            endpoint="erase",
            required=("image",),
            optional=("mask", "grow_mask", "seed", "point_x", "point_y"),
            limits=STABILITY_LIMITS,
            needs_area=True,
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                needs=("mask, transparent pixels, or a point on the object",),
                notes="Fills the area from its surroundings (OpenCV inpainting); a point selects the object "
                "under it from the cut-out's subject mask.",
            ),
            notes="point_x and point_y select the object under them instead of a mask; only the local path "
            "reads a point.",
        ),
        Operation(
            id="replace_background_relight",
            name="Replace background & relight",
            description="Put the subject on a new background (an image or the prompt) and match its light.",
            provider="stability",
            endpoint="replace-background-and-relight",
            required=("image",),
            optional=("background_reference", "light_reference", "prompt", "seed"),
            limits=STABILITY_SHAPED,
            asynchronous=True,
            notes="Needs background_reference or a prompt describing the background. Asynchronous at the provider.",
        ),
        Operation(
            id="general_edit",
            name="General edit",
            description="Edit the image as an instruction says (e.g. 'make it night time').",
            provider="wavespeed",
            endpoint=None,
            required=("image", "prompt"),
            optional=("mask", "negative_prompt", "seed", "model"),
            limits=ImageLimits(min_side=64, min_pixels=4_096, max_pixels=1536 * 1536, max_side=1536),
            asynchronous=True,
            notes="The image's longest side must fit the model (see model_limits). Asynchronous at the provider.",
        ),
    )
}


def general_edit_limits(model: str) -> ImageLimits:
    """general_edit's limits for a WaveSpeed model: its longest side."""
    info = find_model("wavespeed", model)
    side = (info.max_side if info else None) or 1536
    return ImageLimits(min_side=64, min_pixels=4_096, max_pixels=side * side, max_side=side)


def routes_for(op: Operation, model: str | None) -> tuple[Route, Route | None]:
    """The operation's provider route and its local route (None when it has no local path)."""
    provider = Route(
        provider=op.provider,
        model=op.provider_model(model),
        credits=op.provider_credits(model),
        asynchronous=op.asynchronous,
    )
    local = Route(provider=LOCAL, model=f"local/{op.id}", credits=LOCAL_CREDITS) if op.local else None
    return provider, local


# --- the catalogue's answer (GET /edit/operations), in docs/openapi.json ---


class EditProviderRead(ProviderPathRead):
    """The provider path of an edit operation; general_edit says its per-model credits and limits."""

    credits_by_model: dict[str, int] | None = Field(default=None, description="general_edit: per model")
    model_limits: dict[str, ImageLimitsRead] | None = Field(
        default=None, description="general_edit: per model"
    )


class EditLocalPathRead(CatalogueRead):
    """The local path of an edit operation."""

    available: Literal[True]
    credits: int
    needs: list[str]
    notes: str
    limits: ImageLimitsRead


class EditOperationRead(CatalogueRead):
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


class EditCatalogue(CatalogueRead):
    """``GET /edit/operations``: every operation, and every input any of them takes."""

    operations: list[EditOperationRead]
    fields: dict[str, CatalogueField]
