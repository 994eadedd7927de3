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

from typing import Any, Literal

from imagestudio.errors import ValidationFailed
from imagestudio.imaging.colour import colour_in
from imagestudio.messaging import Studio
from imagestudio.studios.common import routed
from imagestudio.studios.common.base import Images
from imagestudio.studios.common.deployment import WorkerDeployment
from imagestudio.studios.common.http_routes import CatalogueRoute, SubmitRoute, example_status
from imagestudio.studios.common.limits import PROVIDER_MAX_REQUEST_BYTES, check_request_bytes
from imagestudio.studios.common.produced import Produced
from imagestudio.studios.common.routes import ProviderStatus, provider_status
from imagestudio.studios.edit.operations import (
    COMMON_FIELDS,
    DEFAULT_GENERAL_EDIT_MODEL,
    GENERAL_EDIT_MODELS,
    LOCAL_CREDITS,
    OPERATIONS,
    OUTPUT_NAME,
    UPLOAD_FIELDS,
    EditCatalogue,
    Operation,
    general_edit_limits,
    routes_for,
)
from imagestudio.studios.edit.paths import check_inputs, local_edit, provider_edit
from imagestudio.studios.edit.request import (
    FIELDS,
    EditParams,
    EditRequest,
    check,
    operation_for,
)

#: The studio's name: its jobs, queue and actors.
name = "edit"
#: Its worker's CPU and scaling (``imagestudio deploy render``). The local paths segment with the cutout group's model (rembg/onnxruntime).
WORKER = WorkerDeployment(queue_length=8, extras=("cutout",))
#: The studio's request model (:class:`~imagestudio.studios.common.base.Studio`).
Request = EditRequest

__all__ = [
    "ROUTE",
    "CATALOGUES",
    "list_operations",
    "WORKER",
    "FIELDS",
    "Request",
    "check",
    "estimate",
    "describe_operations",
    "name",
    "poll",
    "prepare",
    "price",
    "run",
]


def _model(form: EditRequest, op: Operation) -> str | None:
    """The general-edit model asked for (WaveSpeed's default when none is), or None for Stability."""
    if form.model is not None and form.model not in GENERAL_EDIT_MODELS:
        raise ValidationFailed("model", f"unknown model {form.model!r}")
    return form.model or (DEFAULT_GENERAL_EDIT_MODEL if op.provider == "wavespeed" else None)


def _judge(form: EditRequest, files: Images) -> routed.Judged:
    """Validate the request against the operation, the images and the provider/local limits.

    An image is bytes to store (a multipart file) or an upload already stored; every decision
    here comes from headers and upload rows, never from decoding or reading a stored image.
    """
    op = operation_for(form, files=files)
    _, info = files["image"]
    width, height = info.width, info.height
    area: Literal["mask", "alpha", "point"] | None = None
    point = None if form.point_x is None or form.point_y is None else (form.point_x, form.point_y)
    if point is not None:
        # The header's size is enough to place the point; whether an object lies under it is the
        # worker's to find (the gateway never decodes pixels).
        if point[0] >= width:
            raise ValidationFailed("point_x", f"must be within the image's width (0 to {width - 1})")
        if point[1] >= height:
            raise ValidationFailed("point_y", f"must be within the image's height (0 to {height - 1})")
        area = "point"
    elif "mask" in files:
        mask_info = files["mask"][1]
        if (mask_info.width, mask_info.height) != (width, height):
            raise ValidationFailed(
                "mask", f"the mask is {mask_info.width}x{mask_info.height} but the image is {width}x{height}"
            )
        area = "mask"
    elif info.has_alpha and (op.needs_area or op.id == "search_recolor"):
        # The header says there is an alpha channel; whether any pixel is transparent is the
        # worker's to find (it decodes anyway): the gateway never decodes pixels.
        area = "alpha"
    if op.needs_area and area is None:
        raise ValidationFailed("mask", f"{op.id} needs a mask, or an image with transparent pixels to fill")

    model = _model(form, op)  # already checked by operation_for
    color = colour_in(form.text("prompt")) if op.id == "search_recolor" else None
    sizes = {name: upload.size_bytes for name, (upload, _) in files.items()}
    who = op.provider if op.endpoint is None else f"{op.provider} {op.endpoint}"

    def provider_checks() -> None:
        if area == "point":
            raise ValidationFailed(
                "point_x",
                f"{op.provider} {op.endpoint} takes a mask, not a point; the local path reads a point",
            )
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
            general_edit_limits(model or DEFAULT_GENERAL_EDIT_MODEL)
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

    plan = routed.two_routes(
        path=form.path,
        what=op.id,
        routes=routes_for(op, model),
        provider_checks=provider_checks,
        local_checks=local_checks,
    )
    fields = {
        "operation": op.id,
        "path": form.path,
        "prompt": form.text("prompt"),
        "search_prompt": form.text("search_prompt"),
        "select_prompt": form.text("select_prompt"),
        "negative_prompt": form.text("negative_prompt"),
        "left": form.left or 0,
        "right": form.right or 0,
        "up": form.up or 0,
        "down": form.down or 0,
        "grow_mask": form.grow_mask,
        "creativity": form.creativity,
        "seed": form.seed,
        "style_preset": form.style_preset,
        "model": model,
        "output_format": form.output_format,
        "color": color,
        "area": area,
        "point": point,
    }
    images = [upload for upload, _ in files.values()]
    return routed.Judged(plan=plan, image_size=(width, height), images=images, fields=fields)


def _priced(asked: EditRequest) -> tuple[str, routed.Plan]:
    """An edit as an estimate plans it: the operation, its provider route and its local one."""
    op = OPERATIONS[asked.operation]
    return op.id, routed.two_routes(path=asked.path, what=op.id, routes=routes_for(op, _model(asked, op)))


#: Submission: judged here, planned for the tier and the providers' health, priced at the dearest route.
STUDIO = routed.RoutedStudio("edit", EditRequest, EditParams, judge=_judge, priced=_priced)
prepare = STUDIO.prepare
estimate = STUDIO.estimate
price = routed.price


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
                m: general_edit_limits(m).describe() for m in GENERAL_EDIT_MODELS
            }
        operations.append(body)
    return {"operations": operations, "fields": FIELDS}


# --- the worker ----------------------------------------------------------------------------------


def _describe(params: EditParams, produced: Produced) -> dict[str, Any]:
    """What an edited image records beyond how it was made: the operation, the input, the area."""
    op = OPERATIONS[params.operation]
    notes = op.local.notes if produced.route.local and op.local is not None else ""
    return {
        "operation": params.operation,
        "input_size": list(params.image_size),
        "area": params.area,
        "notes": notes,
    }


#: The operation's provider or its local path.
WORK = routed.RoutedWork(
    Studio.edit,
    EditParams,
    OUTPUT_NAME,
    provider=provider_edit,
    describe=_describe,
    local=local_edit,
    check_inputs=check_inputs,
)
run = WORK.run
poll = WORK.poll


#: The gateway's routes for this studio (``studios/common/http_routes.py``).
ROUTE = SubmitRoute(
    "/edit",
    "submit_edit",
    """Accept an edit job (202). Inputs, limits and paths per operation: GET /edit/operations.

    The body is a multipart form with the image files, or JSON in which each image is an upload
    id. Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a mask of another size, images outside the provider's (or
    the local path's) pixel, side and aspect limits, a provider request over 10 MiB (413), and
    an operation that no configured provider nor the local path can serve.
    """,
)


def list_operations() -> EditCatalogue:
    """Every edit operation: required and optional inputs, limits, credits, and whether a local path exists."""
    return EditCatalogue.model_validate(describe_operations())


CATALOGUES = (
    CatalogueRoute(
        path="/edit/operations",
        read=list_operations,
        example=lambda: describe_operations(example_status),
        exclude_unset=True,  # general_edit alone says its per-model credits and limits
    ),
)
