"""The edit operation table: each operation's inputs, provider endpoint and limits, and local path.

The rows are data, in ``operations.toml`` beside this module (read by :mod:`imagestudio.records`).

The one source for ``GET /edit/operations``, the validation at submission and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from imagestudio.providers.registry import CATALOGUE, find_model
from imagestudio.providers.schemas import MAX_GROW_MASK as PROVIDER_MAX_GROW_MASK
from imagestudio.providers.stability import STYLE_PRESETS
from imagestudio.records import load_records, read_data
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

#: The limit sets a row of ``operations.toml`` names instead of writing them out.
_NAMED_LIMITS: dict[str, ImageLimits] = {
    "stability": STABILITY_LIMITS,
    "stability_shaped": STABILITY_SHAPED,
    "local": _LOCAL_LIMITS,
}


def _limits(value: str | dict[str, Any]) -> ImageLimits:
    return _NAMED_LIMITS[value] if isinstance(value, str) else ImageLimits(**value)


def _operation(row: dict[str, Any]) -> dict[str, Any]:
    """An ``[[operation]]`` row with its limits (and its local path's) read; no endpoint is None."""
    read = {"endpoint": None, **row, "limits": _limits(row["limits"])}
    if local := row.get("local"):
        read["local"] = {**local, "limits": _limits(local["limits"])}
    return read


#: The operations, in ``operations.toml``'s order.
OPERATIONS: dict[str, Operation] = load_records(
    Operation, [_operation(row) for row in read_data(__package__, "operations.toml")["operation"]]
)


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
