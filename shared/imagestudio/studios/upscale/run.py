"""The upscale studio's worker half: run a job on its planned routes, poll, the local and provider paths, delivery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagestudio.messaging import Studio
from imagestudio.providers.protocols import as_upscaler
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.providers.schemas import UpscaleRequest as ProviderUpscaleRequest
from imagestudio.studios.common import routed
from imagestudio.studios.common.produced import Produced
from imagestudio.studios.common.routes import Route
from imagestudio.studios.upscale.modes import (
    CONSERVATIVE_PIXELS,
    FAST_SCALE,
    MODES,
    OUTPUT_NAME,
    UpscaleParams,
)


def _local(params: UpscaleParams, inputs: Mapping[str, bytes]) -> bytes:
    from imagestudio.imaging.upscale import upscale_fast, upscale_to_pixels

    if params.mode == "fast":
        return upscale_fast(
            inputs["image"], scale=FAST_SCALE, output_format=params.output_format, quality=params.quality
        )
    return upscale_to_pixels(
        inputs["image"],
        target_pixels=CONSERVATIVE_PIXELS,
        output_format=params.output_format,
        quality=params.quality,
    )


def _provider(
    client: ProviderClient, route: Route, params: UpscaleParams, inputs: Mapping[str, bytes]
) -> GeneratedImage | PendingResult:
    request = ProviderUpscaleRequest(
        mode=params.mode,
        image=inputs["image"],
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        creativity=params.creativity,
        seed=params.seed,
        style_preset=params.style_preset,
        output_format=params.output_format,
    )
    upscaler = as_upscaler(client)
    return upscaler.submit_upscale(request) if params.mode == "creative" else upscaler.upscale(request)


def _describe(params: UpscaleParams, produced: Produced) -> dict[str, Any]:
    """What an upscaled image records beyond how it was made: the mode, the preset, the scale it reached."""
    width, height = params.image_size
    return {
        "mode": params.mode,
        "preset": params.preset,
        "input_size": [width, height],
        "scale": round(produced.width / width, 3),
        "notes": MODES[params.mode].local_notes if produced.route.local else "",
    }


#: The local path (fast, conservative) or Stability; creative submits and leaves the wait to ``upscale.poll``.
WORK = routed.RoutedWork(
    Studio.upscale,
    UpscaleParams,
    OUTPUT_NAME,
    local=_local,
    provider=_provider,
    describe=_describe,
    quality=lambda params: params.quality,
)
run = WORK.run
poll = WORK.poll
