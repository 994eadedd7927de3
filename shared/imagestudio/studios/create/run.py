"""The create studio's worker half: make the job's variations on the planned providers and store them.

Variations are split across calls by each model's max images per call; each output keeps its seed,
provider, whether a simulator made it and its cost, and ``params.results`` says which variations
failed and why. An output an earlier delivery already stored is kept, not made again, and a paid
prediction a vendor accepted is stored on the job (``params.predictions``, variation -> pending
work) before it is polled, so a retry or a worker restart polls that prediction instead of
submitting another.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.errors import TransientJobError
from imagestudio.imaging.formats import extension, media_type
from imagestudio.jobs.service import job_service
from imagestudio.providers.batch import BatchReport, BatchSpec, CallReport
from imagestudio.providers.execution import provider_executor
from imagestudio.providers.registry import find_model
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.providers.selection import Candidate
from imagestudio.studios.common.serving import verify_inputs
from imagestudio.studios.create.request import CreateParams

#: Encoder quality of outputs we had to crop, resize or convert.
OUTPUT_QUALITY = 92
#: What every call of the batch takes from the job's params as it is, under the same name.
_SPEC_FROM_PARAMS = (
    "prompt", "styled_prompt", "negative_prompt", "style_preset", "output_format", "quality", "ratio",
    "seed", "candidates",
)  # fmt: skip


def output_name(variation: int) -> str:
    """Output name of variation ``variation`` (0-based): ``image-01`` ... ``image-10``."""
    return f"image-{variation + 1:02d}"


def _finish(image: GeneratedImage, params: CreateParams) -> tuple[bytes, int, int, str, str]:
    """The image at the asked size and format: (data, width, height, format, content type).

    A provider's own shape is cropped (smart: faces, then salient content) to the exact ratio,
    and resized to the exact size when one was asked for; untouched bytes are kept as they are.
    """
    from imagestudio.imaging import SourceImage, encode, render_format

    target: tuple[int, int] | None = (params.width, params.height) if params.width and params.height else None
    if target is None and abs((image.width / image.height) / params.ratio - 1) > 0.01:
        if image.width / image.height > params.ratio:
            target = (max(1, round(image.height * params.ratio)), image.height)
        else:
            target = (image.width, max(1, round(image.width / params.ratio)))
    same_format = image.content_type == media_type(params.output_format)
    if target is None or target == (image.width, image.height):
        if same_format:
            return image.data, image.width, image.height, params.output_format, image.content_type
        source = SourceImage.load(image.data, max_pixels=get_settings().max_image_pixels)
        data, _, _ = encode(source.image, output_format=params.output_format, quality=OUTPUT_QUALITY)
        return data, image.width, image.height, params.output_format, media_type(params.output_format)
    source = SourceImage.load(image.data, max_pixels=get_settings().max_image_pixels)
    # Same shape: a plain resize; otherwise the crop keeps faces, then the salient content.
    cropped = abs((image.width / image.height) / (target[0] / target[1]) - 1) > 0.01
    rendered = render_format(
        source,
        width=target[0],
        height=target[1],
        mode="smart" if cropped else "center",
        output_format=params.output_format,
        quality=OUTPUT_QUALITY,
    )
    return rendered.data, rendered.width, rendered.height, rendered.format, rendered.content_type


def run(ctx: Any) -> None:
    """Make the job's variations; outputs already stored by an earlier delivery are kept, not redone."""
    params = CreateParams.model_validate(ctx.params)
    with session_scope() as session:
        stored = {asset.name: dict(asset.meta) for asset in asset_service.for_job(session, job_id=ctx.job_id)}
    results: dict[int, dict[str, Any]] = {}
    for name, meta in stored.items():
        if name.startswith("image-") and isinstance(meta.get("variation"), int):
            results[meta["variation"] - 1] = {"status": "succeeded", "output": name, **_summary_of(meta)}
    todo = [variation for variation in range(params.count) if variation not in results]
    predictions: dict[int, PendingResult] = {
        int(variation): PendingResult.model_validate(pending)
        for variation, pending in (ctx.params.get("predictions") or {}).items()
    }

    def on_submitted(variation: int, pending: PendingResult | None) -> None:
        """Store an accepted prediction before it is polled (forget it once it is finished with)."""
        if pending is None:
            if predictions.pop(variation, None) is None:
                return
        else:
            predictions[variation] = pending
        with session_scope() as session:
            job_service.annotate(
                session,
                job_id=ctx.job_id,
                key="predictions",
                value={str(v): p.model_dump(mode="json") for v, p in sorted(predictions.items())},
            )

    def fraction() -> float:
        return 0.02 + 0.96 * len(results) / params.count

    def on_images(variations: list[int], images: list[GeneratedImage], call: CallReport) -> None:
        for variation, image in zip(variations, images, strict=True):
            data, width, height, fmt, content_type = _finish(image, params)
            metadata = _output_metadata(params, variation, image, call, width=width, height=height)
            ctx.add_output(
                output_name(variation),
                data,
                ext=extension(fmt),
                content_type=content_type,
                format=fmt,
                position=variation,
                width=width,
                height=height,
                metadata=metadata,
                provider=call.candidate.provider,
                prompt=call.prompt,
            )
            results[variation] = {
                "status": "succeeded",
                "output": output_name(variation),
                **_summary_of(metadata),
            }
        ctx.progress(fraction(), f"{len(results)}/{params.count} images made")

    ctx.progress(fraction(), f"making {len(todo)} of {params.count} images")
    init_image = (
        verify_inputs({"init_image": ctx.read_input("init_image")})["init_image"]
        if params.init_image and todo
        else None
    )
    spec = BatchSpec(
        **{name: getattr(params, name) for name in _SPEC_FROM_PARAMS},
        init_image=init_image,
        strength=params.strength if init_image is not None else None,
        submitted={v: p for v, p in predictions.items() if v in todo},
    )
    report = provider_executor().run_batch(
        spec,
        variations=todo,
        on_images=on_images,
        checkpoint=lambda message: ctx.progress(fraction(), message),
        on_submitted=on_submitted,
    )
    summary = _results(params, results, report)
    with session_scope() as session:
        job_service.annotate(session, job_id=ctx.job_id, key="results", value=summary)
    if report.in_flight and report.permanent is None and ctx.attempt < ctx.max_attempts:
        # Accepted predictions still running at the vendor: a later delivery polls them (stored
        # in params.predictions), never submits them again; the images made so far are kept.
        raise TransientJobError(
            f"{len(report.in_flight)} accepted prediction(s) still in flight; polling them again later"
        )
    if results:
        return  # partial success is success: the failed variations are listed and not charged
    if report.permanent is not None:
        raise report.permanent
    if report.retry_after is not None and ctx.attempt < ctx.max_attempts:
        # Too long to hold a worker thread: hand the message back to the broker's delay queue.
        delay = min(report.retry_after, get_settings().job_max_backoff_seconds)
        raise dramatiq.Retry(
            f"every provider asked us to wait; retrying in {delay:g} s", delay=int(delay * 1000)
        )
    raise report.last_error or TransientJobError("no provider produced an image")


def _output_metadata(
    params: CreateParams, variation: int, image: GeneratedImage, call: CallReport, *, width: int, height: int
) -> dict[str, Any]:
    candidate = call.candidate
    return {
        "variation": variation + 1,
        "seed": image.seed
        if image.seed is not None
        else (None if candidate.provider == "gemini" else params.seed + variation),
        "provider": candidate.provider,
        "model": candidate.model,
        "simulated": call.simulated,
        "credits": candidate.credits,
        "credits_per_image": candidate.credits_per_image,
        "quality": params.quality,
        "attempts": call.attempts,
        "fallback_from": call.fallback_from,
        "provider_size": [image.width, image.height],
        "resized": (width, height) != (image.width, image.height),
        "aspect_ratio": params.aspect_ratio,
        "template_id": params.template_id,
        "prompt": call.prompt,
        "negative_prompt": params.negative_prompt,
        "provider_seconds": round(call.seconds, 3),
        # Blurred by the vendor's output filter and billed (Stability's CONTENT_FILTERED): delivered, charged, said.
        "content_filtered": image.content_filtered,
        **_image_to_image_metadata(params, candidate),
    }


def _image_to_image_metadata(params: CreateParams, candidate: Candidate) -> dict[str, Any]:
    """Whether the output started from the init image, and the strength the model was given, if any.

    A model whose API has no strength (Gemini's) lists it under ``not_applied``, as control does.
    """
    if not params.init_image:
        return {"image_to_image": False, "strength": None}
    info = find_model(candidate.provider, candidate.model)
    applied = info is not None and info.image_strength
    return {
        "image_to_image": True,
        "strength": params.strength if applied else None,
        "not_applied": [] if applied else ["strength"],
    }


_SUMMARY_KEYS = (
    "variation",
    "seed",
    "provider",
    "model",
    "simulated",
    "credits",
    "attempts",
    "fallback_from",
    "content_filtered",
)


def _summary_of(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: metadata.get(key) for key in _SUMMARY_KEYS}


def _results(params: CreateParams, results: dict[int, dict[str, Any]], report: BatchReport) -> dict[str, Any]:
    """``params.results``: one line per variation, which provider served it, and what went wrong."""
    variations = []
    for variation in range(params.count):
        if variation in results:
            variations.append({**results[variation], "variation": variation + 1})
        else:
            error = report.failed.get(variation, {"title": "No image", "detail": "not attempted"})
            variations.append({"variation": variation + 1, "status": "failed", "error": error})
    succeeded = [line for line in variations if line["status"] == "succeeded"]
    return {
        "requested": params.count,
        "succeeded": len(succeeded),
        "failed": params.count - len(succeeded),
        "credits": sum(int(line.get("credits") or 0) for line in succeeded),
        "providers_used": sorted({str(line["provider"]) for line in succeeded}),
        "simulated": any(bool(line.get("simulated")) for line in succeeded),
        "content_filtered": sum(1 for line in succeeded if line.get("content_filtered")),
        "fallbacks": report.fallbacks,
        "variations": variations,
    }
