"""The control studio's worker half: run a job on its planned routes, poll, the provider request, delivery.

Each route is Stability's control endpoint or WaveSpeed's multi-image edit model; both are given
the operation's control map (sketch's line art, structure's edge map) in place of the uploaded
image, and :func:`deliver` stores that map as a second output so a user sees what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagestudio.imaging.formats import extension, media_type
from imagestudio.jobs.runner import JobContext
from imagestudio.messaging import Studio
from imagestudio.providers.http import describe_image
from imagestudio.providers.protocols import as_controller, as_prompt_editor
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.schemas import ControlRequest as ProviderControlRequest
from imagestudio.providers.schemas import GeneralEditRequest, GeneratedImage, PendingResult
from imagestudio.studios.common import routed
from imagestudio.studios.common.produced import Produced
from imagestudio.studios.common.routes import Route
from imagestudio.studios.control.operations import (
    CONTROL_MAP,
    OPERATIONS,
    OUTPUT_NAME,
    ControlParams,
)


def control_map(operation: str, image: bytes) -> bytes | None:
    """The pre-processed image the provider is given for ``operation`` (None: it takes the image as is)."""
    from imagestudio.imaging.control import edge_map, line_art

    kind = OPERATIONS[operation].control_map
    if kind == "line_art":
        return line_art(image)
    if kind == "edges":
        return edge_map(image)
    return None


def _provider(
    client: ProviderClient, route: Route, params: ControlParams, inputs: Mapping[str, bytes]
) -> GeneratedImage | PendingResult:
    op = OPERATIONS[params.operation]
    image = control_map(op.id, inputs["image"]) or inputs["image"]
    if route.provider == "wavespeed":
        images = [image, *([inputs["style_image"]] if "style_image" in inputs else [])]
        return as_prompt_editor(client).submit_edit(
            GeneralEditRequest(
                prompt=op.instruction.format(prompt=params.prompt or "").strip(),
                images=images,
                negative_prompt=params.negative_prompt,
                model=route.model,
                seed=params.seed,
                output_format=params.output_format,
            )
        )
    return as_controller(client).control(
        ProviderControlRequest(
            operation=op.endpoint,
            image=image,
            style_image=inputs.get("style_image"),
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            aspect_ratio=params.aspect_ratio,
            seed=params.seed,
            style_preset=params.style_preset,
            output_format=params.output_format,
            **params.strengths,
        )
    )


def _store_map(ctx: JobContext, params: ControlParams) -> None:
    """Store the control map (sketch, structure): what the provider was given in place of the upload."""
    op = OPERATIONS[params.operation]
    mapped = control_map(op.id, ctx.read_input("image")) if op.control_map else None
    if mapped is None:
        return
    width, height, _ = describe_image(mapped, provider="local")
    ctx.add_output(
        CONTROL_MAP,
        mapped,
        ext=extension("png"),
        content_type=media_type("png"),
        format="png",
        width=width,
        height=height,
        position=1,
        metadata={
            "path": "local",
            "credits": 0,
            "operation": op.id,
            "kind": op.control_map,
            "notes": "what the provider was given in place of the uploaded image",
        },
        provider="local",
    )


def _describe(params: ControlParams, produced: Produced) -> dict[str, Any]:
    """What a generated image records beyond how it was made: which provider served, the strengths it applied."""
    applied = params.strengths if produced.route.provider == "stability" else {}
    return {
        "operation": params.operation,
        "served_by": produced.route.provider,
        "input_size": list(params.image_size),
        "strengths": applied,
        "not_applied": sorted(set(params.strengths) - set(applied)),
    }


#: Stability, else WaveSpeed's equivalent; no local path. The map is stored first, then the generated image.
WORK = routed.RoutedWork(
    Studio.control, ControlParams, OUTPUT_NAME, provider=_provider, describe=_describe, store_first=_store_map
)
run = WORK.run
poll = WORK.poll
