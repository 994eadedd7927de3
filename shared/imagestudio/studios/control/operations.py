"""Control operations: what each takes, the one request model, and the params stored on the job.

The catalogue (:data:`OPERATIONS`) names each operation's inputs, Stability's endpoint and
defaults, the local pre-processing it is given (``control_map``) and what WaveSpeed's edit model
is told. :class:`ControlRequest` is the one model the route, the batch entry and
``GET /control/operations`` read; :class:`ControlParams` is what the job stores once the request
has been judged (:func:`resolve_operation`) and planned (:func:`imagestudio.studios.control.prepare`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from imagestudio.errors import ValidationFailed
from imagestudio.imaging.formats import OutputFormat
from imagestudio.providers.schemas import Seed
from imagestudio.providers.stability import STABILITY_ASPECT_RATIOS, STYLE_PRESETS
from imagestudio.studios.common.catalogue import CatalogueField, CatalogueRead, ProviderLimitsRead
from imagestudio.studios.common.request import EXAMPLE_UPLOAD, ImageRef, StudioRequest, examples
from imagestudio.studios.common.routes import RoutedParams

OperationName = Literal["sketch", "structure", "style", "style_transfer"]
ProviderName = Literal["auto", "stability", "wavespeed"]
StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]
AspectRatio = Literal[STABILITY_ASPECT_RATIOS]  # type: ignore[valid-type]

#: The generated image, and the pre-processed image the provider was given (sketch, structure).
OUTPUT_NAME = "controlled"
CONTROL_MAP = "control_map"
MAX_PROMPT_CHARS = 10_000
#: WaveSpeed's multi-image edit model that serves the operations Stability's endpoints serve.
WAVESPEED_MODEL = "seedream-v4.5-edit"
UPLOAD_FIELDS = ("image", "style_image")
COMMON_FIELDS = ("negative_prompt", "seed", "output_format", "provider")
#: Stability's default for each strength, used when the request leaves one out (an explicit 0.0 is honoured).
STRENGTH_DEFAULTS: Mapping[str, float] = {
    "control_strength": 0.7,
    "fidelity": 0.5,
    "style_strength": 1.0,
    "composition_fidelity": 0.9,
    "change_strength": 0.9,
}


@dataclass(frozen=True)
class Operation:
    """One control operation: its inputs, Stability's endpoint and defaults, the WaveSpeed instruction."""

    id: str
    name: str
    description: str
    #: Stability's endpoint (``/v2beta/stable-image/control/{endpoint}``).
    endpoint: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: The strength fields the operation takes (Stability's defaults: :data:`STRENGTH_DEFAULTS`).
    strengths: tuple[str, ...] = ()
    #: The local pre-processing sent to the provider and stored as ``control_map``.
    control_map: Literal["line_art", "edges"] | None = None
    #: What WaveSpeed's edit model is told (``{prompt}`` is the request's prompt).
    instruction: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.required, *self.optional, *COMMON_FIELDS)

    @property
    def defaults(self) -> dict[str, float]:
        """Each strength the operation takes, with Stability's default."""
        return {name: STRENGTH_DEFAULTS[name] for name in self.strengths}

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(name for name in self.required if name in UPLOAD_FIELDS)


OPERATIONS: dict[str, Operation] = {
    op.id: op
    for op in (
        Operation(
            id="sketch",
            name="Sketch to image",
            description="A sketch or line drawing and a prompt: an image that follows its lines.",
            endpoint="sketch",
            required=("image", "prompt"),
            optional=("control_strength", "style_preset"),
            strengths=("control_strength",),
            control_map="line_art",
            instruction="Turn this line drawing into a finished image, following its lines exactly: {prompt}",
        ),
        Operation(
            id="structure",
            name="Structure control",
            description="Keep an image's structure (its edges) while the prompt changes its content.",
            endpoint="structure",
            required=("image", "prompt"),
            optional=("control_strength", "style_preset"),
            strengths=("control_strength",),
            control_map="edges",
            instruction="Make an image whose edges follow this edge map exactly: {prompt}",
        ),
        Operation(
            id="style",
            name="Style guide",
            description="A style reference and a prompt: a new image in the reference's style.",
            endpoint="style",
            required=("image", "prompt"),
            optional=("fidelity", "aspect_ratio", "style_preset"),
            strengths=("fidelity",),
            instruction="Create a new image in exactly the visual style of this reference image: {prompt}",
        ),
        Operation(
            id="style_transfer",
            name="Style transfer",
            description="An init image and a style image: the init image redrawn in that style.",
            endpoint="style-transfer",
            required=("image", "style_image"),
            optional=("prompt", "style_strength", "composition_fidelity", "change_strength"),
            strengths=("style_strength", "composition_fidelity", "change_strength"),
            instruction="Redraw the first image in the visual style of the second image, keeping its "
            "composition. {prompt}",
        ),
    )
}


def _strength(name: str, description: str, *, low: float = 0.0) -> Any:
    default = STRENGTH_DEFAULTS[name]
    return Field(
        default=None, ge=low, le=1, description=f"{description} Default {default:g}; 0.0 is honoured."
    )


class ControlRequest(StudioRequest):
    """``POST /control``: the operation, its images and strengths (see ``GET /control/operations``)."""

    model_config = examples(
        {
            "operation": "sketch",
            "image": EXAMPLE_UPLOAD,
            "prompt": "a watercolour lighthouse at dusk",
            "control_strength": 0.6,
        },
        {
            "operation": "style_transfer",
            "image": EXAMPLE_UPLOAD,
            "style_image": "upl_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
            "style_strength": 0.0,
        },
    )

    image_fields = UPLOAD_FIELDS
    required_images = ("image",)
    always_present = ("operation", "output_format", "provider")

    operation: OperationName = Field(description="See GET /control/operations")
    image: ImageRef | None = Field(
        default=None,
        description="sketch: the drawing; structure: the image whose structure is kept; style: the style "
        "reference; style_transfer: the init image.",
    )
    style_image: ImageRef | None = Field(default=None, description="style_transfer: the style to take.")
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS, description="What to create.")
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="What to keep out."
    )
    control_strength: float | None = _strength(
        "control_strength", "sketch, structure: how closely the output follows the image."
    )
    fidelity: float | None = _strength(
        "fidelity", "style: how closely the output takes the reference's style."
    )
    style_strength: float | None = _strength(
        "style_strength", "style_transfer: how much of the style image is applied."
    )
    composition_fidelity: float | None = _strength(
        "composition_fidelity", "style_transfer: how closely the init image's composition is kept."
    )
    change_strength: float | None = _strength(
        "change_strength",
        "style_transfer: how much the init image may change (Stability's minimum is 0.1).",
        low=0.1,
    )
    aspect_ratio: AspectRatio | None = Field(
        default=None, description="style: the output's shape (default 1:1)."
    )
    seed: Seed | None = Field(default=None, description="Fixes the randomness.")
    style_preset: StylePreset | None = None
    output_format: OutputFormat = "png"
    provider: ProviderName = Field(
        default="auto",
        description="auto: Stability, then WaveSpeed's equivalent, as configured, allowed and healthy.",
    )


#: Every input, described so a form can be built from ``GET /control/operations``.
FIELDS: dict[str, dict[str, Any]] = {
    name: spec for name, spec in ControlRequest.catalogue_fields().items() if name != "operation"
}


class ControlParams(RoutedParams):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    operation: OperationName
    provider: ProviderName
    #: Each strength the operation takes, resolved: the request's, else Stability's default.
    strengths: dict[str, float] = {}
    aspect_ratio: str | None = None


def resolve_operation(form: ControlRequest, *, files: Collection[str]) -> Operation:
    """The operation asked for; refuses inputs it does not take and inputs it lacks, naming each."""
    op = OPERATIONS[form.operation]
    for given in form.given(files):
        if given not in op.inputs:
            takes = ", ".join(n for n in op.inputs if n not in ("output_format", "provider"))
            raise ValidationFailed(given, f"{op.id} does not use {given}; it takes {takes}")
    for needed in op.required:
        present = needed in files if needed in UPLOAD_FIELDS else form.text(needed) is not None
        if not present:
            raise ValidationFailed(needed, f"{op.id} needs {needed}")
    return op


# --- the catalogue's answer (GET /control/operations), in docs/openapi.json ---


class ControlProviderRead(CatalogueRead):
    name: str
    model: str
    credits: int
    asynchronous: bool
    configured: bool
    healthy: bool
    simulated: bool | None
    applies: list[str] = Field(description="The strengths this provider honours")
    limits: ProviderLimitsRead


class ControlOperationRead(CatalogueRead):
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


class ControlCatalogue(CatalogueRead):
    """``GET /control/operations``: every operation, and every input any of them takes."""

    operations: list[ControlOperationRead]
    fields: dict[str, CatalogueField]
