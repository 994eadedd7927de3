"""The two ways an edit is made in the worker: local pixel work, or the provider request."""

from __future__ import annotations

from collections.abc import Mapping

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging import has_transparency
from imagestudio.providers.protocols import as_editor, as_prompt_editor
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.schemas import EditRequest as ProviderEditRequest
from imagestudio.providers.schemas import GeneralEditRequest, GeneratedImage, PendingResult
from imagestudio.studios.common.routes import Route
from imagestudio.studios.edit.operations import OPERATIONS
from imagestudio.studios.edit.request import EditParams


def check_inputs(params: EditParams, inputs: Mapping[str, bytes]) -> None:
    """An area to fill that turns out opaque fails the job.

    The gateway planned ``area="alpha"`` from the header's alpha channel alone; whether any pixel
    is transparent is found here, streaming, before a provider or the local path is asked.
    """
    op = OPERATIONS[params.operation]
    if params.area == "alpha" and op.needs_area and not _transparent(inputs["image"]):
        raise ValidationFailed(
            "mask",
            f"{op.id} needs a mask, or an image with transparent pixels to fill: every pixel is opaque",
        )


def _transparent(image: bytes) -> bool:
    return has_transparency(image, max_pixels=get_settings().max_image_pixels, field="image")


def local_edit(params: EditParams, inputs: Mapping[str, bytes]) -> bytes:
    """The edit made by :mod:`imagestudio.imaging.edit` (no provider, no prompt)."""
    from imagestudio.imaging import edit as local

    image, mask, fmt = inputs["image"], inputs.get("mask"), params.output_format
    grow = 5 if params.grow_mask is None else params.grow_mask
    if params.operation == "remove_background":
        return local.remove_background(image, output_format=fmt)
    if params.operation == "inpaint":
        return local.inpaint(image, mask, grow_mask=grow, output_format=fmt)
    if params.operation == "erase":
        return local.erase(image, mask, point=params.point, grow_mask=grow, output_format=fmt)
    if params.operation == "outpaint":
        return local.outpaint(
            image, left=params.left, right=params.right, up=params.up, down=params.down, output_format=fmt
        )
    if params.operation == "search_recolor":
        assert params.color is not None
        if mask is None and not _transparent(image):
            raise ValidationFailed(
                "mask", "the local recolour needs a mask (or transparent pixels): every pixel is opaque"
            )
        return local.recolor(image, mask, color=params.color, output_format=fmt)
    raise ValidationFailed("path", f"{params.operation} has no local path")


#: What Stability's edit request takes from the job's params as it is, under the same name.
_STABILITY_FROM_PARAMS = (
    "prompt", "search_prompt", "select_prompt", "negative_prompt", "left", "right", "up", "down",
    "grow_mask", "creativity", "seed", "style_preset",
)  # fmt: skip


def provider_edit(
    client: ProviderClient, route: Route, params: EditParams, inputs: Mapping[str, bytes]
) -> GeneratedImage | PendingResult:
    """The edit asked of the operation's provider: an image, or pending work to poll."""
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
        output_format=fmt,
        background_reference=inputs.get("background_reference"),
        light_reference=inputs.get("light_reference"),
        **{name: getattr(params, name) for name in _STABILITY_FROM_PARAMS},
    )
    editor = as_editor(client)
    return editor.submit_edit(request) if op.asynchronous else editor.edit(request)
