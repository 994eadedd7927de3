"""The edit request: the one model the route, the batch entry and the catalogue read; the params stored on the job."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import Field

from imagestudio.errors import ValidationFailed
from imagestudio.imaging.formats import OutputFormat
from imagestudio.providers.schemas import Seed
from imagestudio.studios.common.request import EXAMPLE_UPLOAD, ImageRef, StudioRequest, examples
from imagestudio.studios.common.routes import Path, RoutedParams
from imagestudio.studios.edit.operations import (
    COMMON_FIELDS,
    DEFAULT_GENERAL_EDIT_MODEL,
    GENERAL_EDIT_MODELS,
    MAX_GROW_MASK,
    MAX_MARGIN,
    MAX_PROMPT_CHARS,
    OPERATIONS,
    UPLOAD_FIELDS,
    Operation,
    OperationName,
    StylePreset,
)


def _prompt(description: str) -> Any:
    return Field(default=None, max_length=MAX_PROMPT_CHARS, description=description)


def _margin(side: str) -> Any:
    return Field(default=None, ge=0, le=MAX_MARGIN, description=f"Pixels to add on the {side}.")


class EditRequest(StudioRequest):
    """``POST /edit``: the operation, its images and its options (see ``GET /edit/operations``)."""

    model_config = examples(
        {"operation": "remove_background", "image": EXAMPLE_UPLOAD},
        {"operation": "search_replace", "image": EXAMPLE_UPLOAD, "search_prompt": "cup", "prompt": "teapot"},
    )

    image_fields = UPLOAD_FIELDS
    required_images = ("image",)
    always_present = ("operation", "output_format", "path")

    operation: OperationName = Field(description="See GET /edit/operations")
    image: ImageRef | None = Field(
        default=None, description="The image to edit (JPEG, PNG, WebP, GIF, TIFF, HEIF or BMP)."
    )
    mask: ImageRef | None = Field(
        default=None,
        description="Same size as the image; white = the area to change (grey = partly). "
        "Without a mask the image's transparent pixels are the area.",
    )
    background_reference: ImageRef | None = Field(
        default=None, description="Relight: the new background image."
    )
    light_reference: ImageRef | None = Field(
        default=None, description="Relight: an image whose lighting the subject takes."
    )
    prompt: str | None = _prompt("What to create or change.")
    search_prompt: str | None = _prompt("What to find and replace.")
    select_prompt: str | None = _prompt("What to find and recolour.")
    negative_prompt: str | None = _prompt("What to keep out.")
    left: int | None = _margin("left")
    right: int | None = _margin("right")
    up: int | None = _margin("up")
    down: int | None = _margin("down")
    grow_mask: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GROW_MASK,
        description="Pixels to grow the mask by (softens the edit's edge).",
    )
    point_x: int | None = Field(
        default=None,
        ge=0,
        description="erase without a mask: the object under this point is erased "
        "(pixels from the left of the image; with point_y; the local path).",
    )
    point_y: int | None = Field(
        default=None,
        ge=0,
        description="erase without a mask: the point's pixels from the top (with point_x).",
    )
    creativity: float | None = Field(default=None, ge=0, le=1, description="How freely to invent.")
    seed: Seed | None = Field(default=None, description="Fixes the randomness.")
    style_preset: StylePreset | None = None
    model: str | None = Field(
        default=None, max_length=100, description="general_edit: a WaveSpeed edit model"
    )
    output_format: OutputFormat = "png"
    path: Path = Field(
        default="auto",
        description="auto: the provider when configured, healthy and within its limits, else the local path.",
    )


#: Every input a client may send, described so a form can be built from ``GET /edit/operations``.
FIELDS: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in EditRequest.catalogue_fields(
        model={"enum": list(GENERAL_EDIT_MODELS), "default": DEFAULT_GENERAL_EDIT_MODEL}
    ).items()
    if name != "operation"
}


class EditParams(RoutedParams):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    operation: OperationName
    path: Path
    search_prompt: str | None = None
    select_prompt: str | None = None
    left: int = 0
    right: int = 0
    up: int = 0
    down: int = 0
    grow_mask: int | None = None
    creativity: float | None = None
    model: str | None = None
    #: The local recolour's target, parsed from the prompt.
    color: str | None = None
    #: Where the area comes from: an uploaded mask, the image's alpha, the object under a point, or none.
    area: Literal["mask", "alpha", "point"] | None = None
    #: erase: the point (x, y in source pixels) whose object is the area.
    point: tuple[int, int] | None = None


def check(request: EditRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the operation does not take, margins, seed, model."""
    operation_for(request, files=files)


def operation_for(form: EditRequest, *, files: Collection[str]) -> Operation:
    op = OPERATIONS[form.operation]
    for name in form.given(files):
        if name not in op.inputs:
            takes = ", ".join(n for n in op.inputs if n not in COMMON_FIELDS)
            raise ValidationFailed(
                name, f"{op.id} does not use {name}; it takes {takes} (and output_format, path)"
            )
    if "image" not in files:
        raise ValidationFailed("image", "the image to edit is required")
    if op.id == "outpaint" and not any((form.left, form.right, form.up, form.down)):
        raise ValidationFailed("left", "outpaint needs at least one of left, right, up, down above 0")
    if form.model is not None and form.model not in GENERAL_EDIT_MODELS:
        raise ValidationFailed(
            "model", f"unknown model {form.model!r}; choose from {', '.join(GENERAL_EDIT_MODELS)}"
        )
    if (form.point_x is None) != (form.point_y is None):
        given, missing = ("point_x", "point_y") if form.point_y is None else ("point_y", "point_x")
        raise ValidationFailed(missing, f"{given} needs {missing}: a point is both")
    if form.point_x is not None and "mask" in files:
        raise ValidationFailed("point_x", "give a mask or a point, not both")
    if form.path == "local" and op.local is None:
        raise ValidationFailed("path", f"{op.id} has no local path; use path=provider or auto")
    return op
