"""Edit studio: eight operations on an uploaded image, served by a provider or by local image processing.

The operation table below is the one source for ``GET /edit/operations``, the validation at
submission and the worker. The gateway calls :func:`check_form` (cheap field checks), reads the
uploads, then :func:`prepare`: every refusal happens there, before anything is stored or queued,
from the provider's published limits (Stability v2beta, WaveSpeed's model sizes) and the local
code's own. The chosen routes are stored on the job; the worker's :func:`run` serves them in
order (provider first, local as the fallback in ``auto``), and each output records which path,
provider and model produced it, whether a simulator answered, attempts and fallbacks.

Local paths are classical image processing (:mod:`imagestudio.imaging.edit`): they need no
provider and run offline, but they do not read prompts (inpaint and outpaint fill from the
image itself; recolour takes the colour named in the prompt and the mask).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from imagestudio.errors import ValidationFailed
from imagestudio.jobs.runner import JobContext
from imagestudio.messaging import Queue
from imagestudio.providers.protocols import as_editor, as_prompt_editor
from imagestudio.providers.registry import CATALOGUE, ProviderClient, find_model
from imagestudio.providers.schemas import EditRequest as ProviderEditRequest
from imagestudio.providers.schemas import GeneralEditRequest, GeneratedImage, PendingResult
from imagestudio.providers.stability import STYLE_PRESETS
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
from imagestudio.studios.routes import (
    LOCAL,
    Path,
    ProviderStatus,
    Route,
    credits_of,
    provider_status,
    whole_credits,
)

#: The studio's name: its jobs, queue and actors.
name = "edit"

__all__ = [
    "OPERATIONS",
    "EditParams",
    "EditRequest",
    "Operation",
    "Request",
    "check",
    "name",
    "describe_operations",
    "poll",
    "prepare",
    "price",
    "run",
]

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
OutputFormat = Literal["png", "jpeg", "webp"]
StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]

#: Name of the one output an edit job makes.
OUTPUT_NAME = "edited"
#: Credits of the local path: local pixel work is free (as social is).
LOCAL_CREDITS = 0
MAX_PROMPT_CHARS = 10_000
#: Stability's seed range; WaveSpeed's is 0..2**31 - 1.
MAX_SEED = 4_294_967_294
MAX_WAVESPEED_SEED = 2_147_483_647
MAX_MARGIN = 2000
MAX_GROW_MASK = 100
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
_STABILITY_EDIT = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184)
_STABILITY_SHAPED = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184, aspect=STABILITY_ASPECT)

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
            limits=_STABILITY_EDIT,
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
            limits=_STABILITY_SHAPED,
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
            limits=_STABILITY_SHAPED,
        ),
        Operation(
            id="search_recolor",
            name="Search & recolour",
            description="Find what select_prompt names and recolour it as the prompt says.",
            provider="stability",
            endpoint="search-and-recolor",
            required=("image", "prompt", "select_prompt"),
            optional=("mask", "negative_prompt", "grow_mask", "seed", "style_preset"),
            limits=_STABILITY_SHAPED,
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
            description="Remove what the mask covers and fill its place.",
            provider="stability",
            endpoint="erase",
            required=("image",),
            optional=("mask", "grow_mask", "seed"),
            limits=_STABILITY_EDIT,
            needs_area=True,
            local=LocalPath(
                limits=_LOCAL_LIMITS,
                needs=("mask or transparent pixels",),
                notes="Fills the area from its surroundings (OpenCV inpainting).",
            ),
        ),
        Operation(
            id="replace_background_relight",
            name="Replace background & relight",
            description="Put the subject on a new background (an image or the prompt) and match its light.",
            provider="stability",
            endpoint="replace-background-and-relight",
            required=("image",),
            optional=("background_reference", "light_reference", "prompt", "seed"),
            limits=_STABILITY_SHAPED,
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


def _general_edit_limits(model: str) -> ImageLimits:
    info = find_model("wavespeed", model)
    side = (info.max_side if info else None) or 1536
    return ImageLimits(min_side=64, min_pixels=4_096, max_pixels=side * side, max_side=side)


# --- the request ---------------------------------------------------------------------------------


def _prompt(description: str) -> Any:
    return Field(default=None, max_length=MAX_PROMPT_CHARS, description=description)


def _margin(side: str) -> Any:
    return Field(default=None, ge=0, le=MAX_MARGIN, description=f"Pixels to add on the {side}.")


class EditRequest(StudioRequest):
    """``POST /edit``: the operation, its images and its options (see ``GET /edit/operations``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"operation": "remove_background", "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19"},
                {
                    "operation": "search_replace",
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "search_prompt": "cup",
                    "prompt": "teapot",
                },
            ]
        }
    )

    image_fields = UPLOAD_FIELDS
    required_images = ("image",)

    operation: OperationName = Field(description="See GET /edit/operations")
    image: UploadId | None = Field(
        default=None, description="The image to edit (JPEG, PNG, WebP, GIF, TIFF, HEIF or BMP)."
    )
    mask: UploadId | None = Field(
        default=None,
        description="Same size as the image; white = the area to change (grey = partly). "
        "Without a mask the image's transparent pixels are the area.",
    )
    background_reference: UploadId | None = Field(
        default=None, description="Relight: the new background image."
    )
    light_reference: UploadId | None = Field(
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
    creativity: float | None = Field(default=None, ge=0, le=1, description="How freely to invent.")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="Fixes the randomness.")
    style_preset: StylePreset | None = None
    model: str | None = Field(
        default=None, max_length=100, description="general_edit: a WaveSpeed edit model"
    )
    output_format: OutputFormat = "png"
    path: Path = Field(
        default="auto",
        description="auto: the provider when configured, healthy and within its limits, else the local path.",
    )

    def given(self, files: Collection[str]) -> list[str]:
        """Inputs the client sent (text fields that are not blank, files), in field order."""
        sent = {
            name for name in FIELDS if name not in UPLOAD_FIELDS and getattr(self, name) not in (None, "")
        }
        sent |= set(files)
        sent -= {"output_format", "path"}  # always present (they have defaults)
        return [name for name in FIELDS if name in sent]


#: Every input a client may send, described so a form can be built from ``GET /edit/operations``.
FIELDS: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in EditRequest.catalogue_fields(
        model={"enum": list(GENERAL_EDIT_MODELS), "default": DEFAULT_GENERAL_EDIT_MODEL}
    ).items()
    if name != "operation"
}
Request = EditRequest


class EditParams(BaseModel):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    model_config = ConfigDict(extra="ignore")

    operation: OperationName
    path: Path
    routes: list[Route]
    #: Routes ``auto`` left out, with why.
    skipped: list[dict[str, str]] = []
    prompt: str | None = None
    search_prompt: str | None = None
    select_prompt: str | None = None
    negative_prompt: str | None = None
    left: int = 0
    right: int = 0
    up: int = 0
    down: int = 0
    grow_mask: int | None = None
    creativity: float | None = None
    seed: int | None = None
    style_preset: str | None = None
    model: str | None = None
    output_format: OutputFormat = "png"
    #: The local recolour's target, parsed from the prompt.
    color: str | None = None
    #: Where the area comes from: an uploaded mask, the image's alpha, or none.
    area: Literal["mask", "alpha"] | None = None
    image_size: tuple[int, int]
    estimated_credits: int


def check(request: EditRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the operation does not take, margins, seed, model."""
    _operation(request, files=files)


def _operation(form: EditRequest, *, files: Collection[str]) -> Operation:
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
    if op.provider == "wavespeed" and form.seed is not None and form.seed > MAX_WAVESPEED_SEED:
        raise ValidationFailed("seed", f"{op.id} (WaveSpeed) takes seeds up to {MAX_WAVESPEED_SEED}")
    if form.model is not None and form.model not in GENERAL_EDIT_MODELS:
        raise ValidationFailed(
            "model", f"unknown model {form.model!r}; choose from {', '.join(GENERAL_EDIT_MODELS)}"
        )
    if form.path == "local" and op.local is None:
        raise ValidationFailed("path", f"{op.id} has no local path; use path=provider or auto")
    return op


#: ``#rrggbb`` anywhere in a prompt.
_HEX = re.compile(r"#([0-9a-fA-F]{6})\b")


def colour_in(prompt: str | None) -> str | None:
    """The colour a prompt names, as ``#rrggbb``: a hex code, or a CSS colour name (one or two words)."""
    from PIL import ImageColor

    if not prompt:
        return None
    match = _HEX.search(prompt)
    if match:
        return "#" + match.group(1).lower()
    words = re.findall(r"[a-z]+", prompt.lower())
    for size in (2, 1):  # "dark blue" before "blue"
        for start in range(len(words) - size + 1):
            name = "".join(words[start : start + size])
            if name in ImageColor.colormap:
                red, green, blue = ImageColor.getrgb(name)[:3]
                return f"#{red:02x}{green:02x}{blue:02x}"
    return None


def _routes(op: Operation, model: str | None) -> tuple[Route, Route | None]:
    """The operation's provider route and its local route (None when it has no local path)."""
    provider = Route(
        provider=op.provider,
        model=op.provider_model(model),
        credits=op.provider_credits(model),
        asynchronous=op.asynchronous,
    )
    local = Route(provider=LOCAL, model=f"local/{op.id}", credits=LOCAL_CREDITS) if op.local else None
    return provider, local


def prepare(
    session: Session,
    *,
    tenant_id: str,
    request: EditRequest,
    images: Images,
    status: Any = provider_status,
) -> Prepared:
    """Validate ``request`` against the operation, the images and the provider/local limits; plan the routes.

    An image is bytes to store (a multipart file) or an upload already stored (read only when a
    check needs its bytes).
    """
    form, files = request, images
    op = _operation(form, files=files)
    image, info = files["image"]
    width, height = info.width, info.height
    area: Literal["mask", "alpha"] | None = None
    if "mask" in files:
        mask_info = files["mask"][1]
        if (mask_info.width, mask_info.height) != (width, height):
            raise ValidationFailed(
                "mask", f"the mask is {mask_info.width}x{mask_info.height} but the image is {width}x{height}"
            )
        area = "mask"
    elif info.has_alpha and (op.needs_area or op.id == "search_recolor"):
        from imagestudio.imaging.edit import mask_from_alpha

        area = "alpha" if mask_from_alpha(image.data) is not None else None
    if op.needs_area and area is None:
        raise ValidationFailed("mask", f"{op.id} needs a mask, or an image with transparent pixels to fill")

    model = form.model or (DEFAULT_GENERAL_EDIT_MODEL if op.provider == "wavespeed" else None)
    color = colour_in(form.text("prompt")) if op.id == "search_recolor" else None
    sizes = {name: len(upload.data) for name, (upload, _) in files.items()}
    who = op.provider if op.endpoint is None else f"{op.provider} {op.endpoint}"

    def provider_checks() -> None:
        for name in op.required:
            if name not in UPLOAD_FIELDS and form.text(name) is None:
                raise ValidationFailed(name, f"{op.id} on {op.provider} needs {name}")
        if (
            op.id == "replace_background_relight"
            and "background_reference" not in files
            and not form.text("prompt")
        ):
            raise ValidationFailed(
                "background_reference",
                "relight needs a background_reference image or a prompt describing the background",
            )
        limits = (
            _general_edit_limits(model or DEFAULT_GENERAL_EDIT_MODEL)
            if op.provider == "wavespeed"
            else op.limits
        )
        limits.check(field="image", width=width, height=height, who=who)
        check_request_bytes(sizes, who=op.provider)

    def local_checks() -> None:
        assert op.local is not None
        op.local.limits.check(field="image", width=width, height=height, who="the local path")
        if op.id == "outpaint":
            out_w = width + (form.left or 0) + (form.right or 0)
            out_h = height + (form.up or 0) + (form.down or 0)
            if out_w * out_h > 8192 * 8192:
                raise ValidationFailed("left", f"the local canvas would be {out_w}x{out_h}, over 8192 x 8192")
        if op.id == "search_recolor":
            if area is None:
                raise ValidationFailed(
                    "mask", "the local recolour needs a mask (or transparent pixels) for the area"
                )
            if color is None:
                raise ValidationFailed(
                    "prompt", "the local recolour needs a colour in the prompt, e.g. '#1e90ff' or 'navy'"
                )

    routes, skipped = routed.plan(
        session,
        tenant_id=tenant_id,
        path=form.path,
        what=op.id,
        routes=_routes(op, model),
        provider_checks=provider_checks,
        local_checks=local_checks,
        status=status,
    )
    params = EditParams(
        operation=op.id,
        path=form.path,
        routes=routes,
        skipped=skipped,
        prompt=form.text("prompt"),
        search_prompt=form.text("search_prompt"),
        select_prompt=form.text("select_prompt"),
        negative_prompt=form.text("negative_prompt"),
        left=form.left or 0,
        right=form.right or 0,
        up=form.up or 0,
        down=form.down or 0,
        grow_mask=form.grow_mask,
        creativity=form.creativity,
        seed=form.seed,
        style_preset=form.style_preset,
        model=model,
        output_format=form.output_format,
        color=color,
        area=area,
        image_size=(width, height),
        estimated_credits=credits_of(routes),
    )
    return Prepared(
        params=params,
        images=[upload for upload, _ in files.values()],
        cost=price(params),
        provider=routes[0].provider,
    )


def price(params: EditParams) -> int:
    """Credits an edit job reserves: its dearest route (only the route that served is captured)."""
    return params.estimated_credits


class EditEstimateRequest(BaseModel):
    """``POST /estimate-cost`` for the edit studio: the images are not needed to price a request."""

    model_config = ConfigDict(extra="ignore")

    operation: OperationName
    path: Path = "auto"
    model: str | None = None


@register("edit")
def _price_request(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price an edit as :func:`prepare` would plan it now (configuration, tier, circuit state)."""
    asked = EditEstimateRequest.model_validate(request)
    op = OPERATIONS[asked.operation]
    if asked.model is not None and asked.model not in GENERAL_EDIT_MODELS:
        raise ValidationFailed("model", f"unknown model {asked.model!r}")
    model = asked.model or (DEFAULT_GENERAL_EDIT_MODEL if op.provider == "wavespeed" else None)
    return routed.estimate("edit", what=op.id, path=asked.path, routes=_routes(op, model), allowed=allowed)


def describe_operations(status: Any = provider_status) -> dict[str, Any]:
    """``GET /edit/operations``: each operation's inputs, limits, credits and paths, for building a form."""
    seen: dict[str, ProviderStatus] = {}

    def state(name: str) -> ProviderStatus:
        if name not in seen:
            seen[name] = status(name)
        return seen[name]

    operations = []
    for op in OPERATIONS.values():
        provider = state(op.provider)
        body: dict[str, Any] = {
            "id": op.id,
            "name": op.name,
            "description": op.description,
            "required": list(op.required),
            "optional": [*op.optional, *COMMON_FIELDS],
            "inputs": {name: FIELDS[name] for name in op.inputs},
            "needs_area": op.needs_area,
            "notes": op.notes,
            "provider": {
                "name": op.provider,
                "endpoint": op.provider_model(),
                "credits": op.provider_credits(),
                "asynchronous": op.asynchronous,
                "configured": provider.configured,
                "healthy": provider.healthy,
                "simulated": provider.simulated,
                "limits": {**op.limits.describe(), "max_request_bytes": PROVIDER_MAX_REQUEST_BYTES},
            },
            "local": (
                {
                    "available": True,
                    "credits": LOCAL_CREDITS,
                    "needs": list(op.local.needs),
                    "notes": op.local.notes,
                    "limits": op.local.limits.describe(),
                }
                if op.local is not None
                else {"available": False}
            ),
            "paths": ["auto", "provider", *(["local"] if op.local is not None else [])],
        }
        if op.id == "general_edit":
            body["provider"]["credits_by_model"] = {m: op.provider_credits(m) for m in GENERAL_EDIT_MODELS}
            body["provider"]["model_limits"] = {
                m: _general_edit_limits(m).describe() for m in GENERAL_EDIT_MODELS
            }
        operations.append(body)
    return {"operations": operations, "fields": FIELDS}


# --- the worker ----------------------------------------------------------------------------------


def run(ctx: JobContext) -> None:
    """Serve one edit job: the provider (retries, breaker, fallback) or the local path."""
    params = EditParams.model_validate(ctx.params)
    routed.run_routes(
        ctx,
        params.routes,
        output=OUTPUT_NAME,
        queue=Queue.edit,
        read_inputs=lambda: {name: ctx.read_input(name) for name in UPLOAD_FIELDS if name in ctx.inputs},
        local=lambda inputs: _local(params, inputs),
        provider=lambda client, route, ready: _provider(client, params, ready),
        deliver=deliver,
    )


def poll(job_id: str, *, seq: int) -> None:
    """One poll of an edit job's asynchronous provider work (``edit.poll``)."""
    poll_pending(job_id, seq=seq, queue=Queue.edit, deliver=deliver)


def _local(params: EditParams, inputs: Mapping[str, bytes]) -> bytes:
    from imagestudio.imaging import edit as local

    image, mask, fmt = inputs["image"], inputs.get("mask"), params.output_format
    grow = 5 if params.grow_mask is None else params.grow_mask
    if params.operation == "remove_background":
        return local.remove_background(image, output_format=fmt)
    if params.operation == "inpaint":
        return local.inpaint(image, mask, grow_mask=grow, output_format=fmt)
    if params.operation == "erase":
        return local.erase(image, mask, grow_mask=grow, output_format=fmt)
    if params.operation == "outpaint":
        return local.outpaint(
            image, left=params.left, right=params.right, up=params.up, down=params.down, output_format=fmt
        )
    if params.operation == "search_recolor":
        assert params.color is not None
        return local.recolor(image, mask, color=params.color, output_format=fmt)
    raise ValidationFailed("path", f"{params.operation} has no local path")


def _provider(
    client: ProviderClient, params: EditParams, inputs: Mapping[str, bytes]
) -> GeneratedImage | PendingResult:
    op = OPERATIONS[params.operation]
    if op.provider == "wavespeed":
        return as_prompt_editor(client).submit_edit(
            GeneralEditRequest(
                prompt=params.prompt or "",
                images=[inputs["image"]],
                mask=inputs.get("mask"),
                negative_prompt=params.negative_prompt,
                model=params.model,
                seed=params.seed,
                output_format=params.output_format,
            )
        )
    assert op.endpoint is not None
    # Stability's remove-background answers PNG or WebP only: JPEG is made from the PNG afterwards.
    fmt = "png" if op.id == "remove_background" and params.output_format == "jpeg" else params.output_format
    request = ProviderEditRequest(
        operation=op.endpoint,
        image=inputs["image"],
        mask=inputs.get("mask") if op.needs_area else None,
        prompt=params.prompt,
        search_prompt=params.search_prompt,
        select_prompt=params.select_prompt,
        negative_prompt=params.negative_prompt,
        left=params.left,
        right=params.right,
        up=params.up,
        down=params.down,
        grow_mask=params.grow_mask,
        creativity=params.creativity,
        seed=params.seed,
        style_preset=params.style_preset,
        output_format=fmt,
        background_reference=inputs.get("background_reference"),
        light_reference=inputs.get("light_reference"),
    )
    editor = as_editor(client)
    return editor.submit_edit(request) if op.asynchronous else editor.edit(request)


def deliver(ctx: JobContext, produced: Produced) -> None:
    """Store the edited image with how it was made."""
    params = EditParams.model_validate(ctx.params)
    data, content_type, fmt, ext = in_format(produced, params.output_format)
    op = OPERATIONS[params.operation]
    notes = op.local.notes if produced.route.local and op.local is not None else ""
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
            "operation": params.operation,
            "input_size": list(params.image_size),
            "area": params.area,
            "skipped": params.skipped,
            "notes": notes,
        },
        provider=produced.route.provider,
        prompt=params.prompt,
    )
