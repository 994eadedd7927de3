"""Create studio: text-to-image (or image-to-image) on the providers, from a prompt, a template and a persona.

The gateway calls :func:`prepare` (every refusal happens there, before anything is queued): the
template fills size, style, quality and provider preference unless the request sets them (an
explicit quality always wins, unlike the seed), the prompt is enhanced and the persona applied
with every addition explained, and the providers to try are planned. The worker calls
:func:`run`: variations are split across calls by each model's max images per call, each output
keeps its seed, provider, whether it came from a simulator and its cost, and ``params.results``
says which variations failed and why. The job succeeds when at least one image was made.

Image-to-image: an ``init_image`` (upload id, or a file in a form) and a ``strength`` (0 keeps
the image, 1 ignores it; 0.0 is a value, not a missing one) go to every variation; only models
whose catalogue row says ``image_to_image`` are planned, at their usual price.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import dramatiq
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope
from imagestudio.errors import NotFound, TransientJobError, ValidationFailed
from imagestudio.jobs.service import job_service
from imagestudio.personas.service import persona_service
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.execution import BatchReport, BatchSpec, CallReport, provider_executor
from imagestudio.providers.health import provider_health
from imagestudio.providers.registry import find_model
from imagestudio.providers.schemas import GeneratedImage, Quality
from imagestudio.providers.selection import Candidate, parse_ratio, plan
from imagestudio.providers.stability import STYLE_PRESETS
from imagestudio.studios.base import Images, Prepared
from imagestudio.studios.limits import ImageLimits, check_request_bytes
from imagestudio.studios.pricing import Estimate, EstimateItem, register
from imagestudio.studios.request import StudioRequest, UploadId
from imagestudio.studios.serving import verify_inputs
from imagestudio.templates.catalogue import TEMPLATES, Template, aspect_label
from imagestudio.templates.prompting import STYLE_PHRASES, PromptResult, append_phrases, enhance

__all__ = ["CreateParams", "CreateRequest", "Request", "check", "name", "prepare", "price", "run"]

#: Longest prompt a client may send; enhancement and persona additions must still fit providers' 10,000.
MAX_PROMPT_CHARS = 2000
#: Largest seed every provider accepts (WaveSpeed's 2**31 - 1), less room for ``seed + 9``.
MAX_SEED = 2_147_483_637
MIN_SIDE, MAX_SIDE = 64, 4096
#: Encoder quality of outputs we had to crop, resize or convert.
OUTPUT_QUALITY = 92
#: Strength of an image-to-image request that gives none: halfway between the image and the prompt.
DEFAULT_STRENGTH = 0.5
#: Init images every image-to-image model takes (Stability sd3.5's published input limits; ultra's are wider).
INIT_IMAGE_LIMITS = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184)

StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]
OutputFormat = Literal["png", "jpeg", "webp"]
_EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_FORMAT_OF = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


class CreateRequest(StudioRequest):
    """``POST /create``: what to make, and optionally how (template, provider, persona)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"prompt": "a lighthouse at dawn, watercolour", "aspect_ratio": "16:9", "count": 2},
                {
                    "prompt": "product shot of a ceramic mug",
                    "template_id": "product_white_background",
                    "quality": "premium",
                },
            ]
        },
    )

    prompt: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS)
    ]
    negative_prompt: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_PROMPT_CHARS)] | None
    ) = None
    template_id: str | None = Field(default=None, max_length=100, description="See GET /templates")
    provider: Literal["auto", "stability", "wavespeed", "huggingface", "gemini"] = "auto"
    model: str | None = Field(default=None, max_length=100, description="A model id from GET /providers")
    width: int | None = Field(default=None, ge=MIN_SIDE, le=MAX_SIDE)
    height: int | None = Field(default=None, ge=MIN_SIDE, le=MAX_SIDE)
    aspect_ratio: str | None = Field(default=None, max_length=20, description="W:H, e.g. 16:9 or 1.91:1")
    style_preset: StylePreset | None = None
    quality: Quality = "standard"
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="Image i uses seed + i")
    count: int = Field(default=1, ge=1, le=10, validation_alias=AliasChoices("count", "num_variations"))
    enhance_prompt: bool = False
    persona_id: str | None = Field(default=None, max_length=36)
    output_format: OutputFormat = "png"
    init_image: UploadId | None = Field(
        default=None,
        description="Image-to-image: the image to start from (JPEG, PNG, WebP, ...). "
        "Only models that can are planned (image_to_image in GET /providers).",
    )
    strength: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Image-to-image: 0 keeps the init image, 1 ignores it (default {DEFAULT_STRENGTH}). "
        "Needs init_image.",
    )

    image_fields = ("init_image",)


class CreateParams(BaseModel):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    prompt: str
    styled_prompt: str
    negative_prompt: str | None
    prompt_original: str
    negative_prompt_original: str | None
    #: Every phrase added by enhancement or the persona, with its reason; and persona warnings.
    enhancement: dict[str, Any]
    template_id: str | None
    persona_id: str | None
    quality: Quality
    quality_source: Literal["request", "template", "default"]
    style_preset: str | None
    aspect_ratio: str
    ratio: float
    #: Exact output size; ``None`` keeps the provider's size (cropped to the exact ratio).
    width: int | None
    height: int | None
    count: int
    seed: int
    output_format: OutputFormat
    provider: str
    model: str | None
    candidates: list[Candidate]
    estimated_credits: int
    #: Image-to-image: the job's ``init_image`` input, its strength and its size.
    init_image: bool = False
    strength: float | None = None
    init_size: tuple[int, int] | None = None


# --- gateway side ------------------------------------------------------------------------------


def _template(template_id: str | None) -> Template | None:
    if template_id is None:
        return None
    template = TEMPLATES.get(template_id)
    if template is None:
        raise ValidationFailed(
            "template_id", f"unknown template {template_id!r}; see GET /api/image-studio/templates"
        )
    return template


def _other_side(known: int, ratio: float, *, wide: bool, field: str) -> int:
    value = round(known / ratio) if wide else round(known * ratio)
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise ValidationFailed(field, f"the derived {field} {value} is outside {MIN_SIDE}..{MAX_SIDE}")
    return value


def _shape(request: CreateRequest, template: Template | None) -> tuple[float, str, int | None, int | None]:
    """(ratio, label, width, height): explicit size, then aspect (+ one side), then the template's."""
    width, height = request.width, request.height
    if width and height:
        ratio = width / height
        if not 1 / 8 <= ratio <= 8:
            raise ValidationFailed("height", f"{width}x{height} is outside the supported shapes 1:8 to 8:1")
        if request.aspect_ratio and abs(parse_ratio(request.aspect_ratio) / ratio - 1) > 0.01:
            raise ValidationFailed(
                "aspect_ratio", f"disagrees with width x height ({width}x{height}); give one or the other"
            )
        return ratio, aspect_label(width, height), width, height
    if request.aspect_ratio:
        ratio = parse_ratio(request.aspect_ratio)
        label = request.aspect_ratio
    elif template is not None:
        if not (width or height):
            return template.ratio, template.aspect_ratio, template.width, template.height
        ratio, label = template.ratio, template.aspect_ratio
    else:
        ratio, label = 1.0, "1:1"
    if width:
        return ratio, label, width, _other_side(width, ratio, wide=True, field="height")
    if height:
        return ratio, label, _other_side(height, ratio, wide=False, field="width"), height
    return ratio, label, None, None


@dataclass(frozen=True)
class _Plan:
    """What a request resolves to before its prompt is worked on."""

    template: Template | None
    quality: Quality
    quality_source: Literal["request", "template", "default"]
    style: str | None
    ratio: float
    label: str
    width: int | None
    height: int | None
    candidates: list[Candidate]

    def reserve(self, count: int) -> int:
        """Credits held for the job: fallbacks may cost more than the first choice, so the dearest."""
        return count * max(candidate.credits for candidate in self.candidates)


def _plan(
    request: CreateRequest,
    *,
    allowed: Collection[str],
    image_to_image: bool = False,
    init_size: tuple[int, int] | None = None,
) -> _Plan:
    """Template, quality, style, shape and the providers to try (opens its own transactions).

    With an init image and no size, aspect or template asked for, the output keeps the init image's shape.
    """
    health = {name: state for name, (state, _) in provider_health().items()}
    fields = request.model_fields_set
    template = _template(request.template_id)
    quality_source: Literal["request", "template", "default"]
    if "quality" in fields or template is None:
        quality, quality_source = request.quality, "request" if "quality" in fields else "default"
    else:
        quality, quality_source = template.quality, "template"
    style = (
        request.style_preset if "style_preset" in fields else (template.style_preset if template else None)
    )
    init_shape = (
        init_size is not None
        and template is None
        and not (request.width or request.height or request.aspect_ratio)
    )
    if init_size is not None and init_shape:
        ratio, label, width, height = init_size[0] / init_size[1], aspect_label(*init_size), None, None
    else:
        ratio, label, width, height = _shape(request, template)
    explicit = "provider" in fields or "model" in fields
    candidates = plan(
        quality=quality,
        ratio=ratio,
        provider=request.provider,
        model=request.model,
        suggested=template.suggested_providers if template and not explicit else (),
        allowed=allowed,
        available=list(provider_directory.available()),
        health=health,
        image_to_image=image_to_image,
        init_shape=init_shape,
    )
    return _Plan(template, quality, quality_source, style, ratio, label, width, height, candidates)


@register("create")
def _price_request(params: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a create request as :func:`prepare` plans it (tier, provider health): the first choice's
    credits for every image, held at the dearest fallback's."""
    request = CreateRequest.model_validate(params)
    check(request, files=request.upload_ids().keys())
    planned = _plan(request, allowed=allowed, image_to_image=request.init_image is not None)
    first = planned.candidates[0]
    unit = planned.reserve(1)
    held = f"; held at {unit}, the dearest fallback, and charged only for images made"
    return Estimate(
        studio="create",
        total_credits=first.credits * request.count,
        max_credits=planned.reserve(request.count),
        breakdown=[
            EstimateItem(
                item=f"image via {first.provider} {first.model}{held if unit > first.credits else ''}",
                provider=first.provider,
                model=first.model,
                quality=planned.quality,
                unit_credits=first.credits,
                count=request.count,
                credits=first.credits * request.count,
            )
        ],
    )


#: The studio's name: its jobs, queue and actors.
name = "create"
Request = CreateRequest


def check(request: CreateRequest, *, files: Collection[str]) -> None:
    """Refuse a strength without an init image (it would be silently ignored)."""
    if request.strength is not None and "init_image" not in files:
        raise ValidationFailed("strength", "strength applies to image-to-image: give an init_image too")


def price(params: CreateParams) -> int:
    """Credits a create job reserves: every image at its dearest fallback (only images made are charged)."""
    return params.estimated_credits


def prepare(session: Session, *, tenant_id: str, request: CreateRequest, images: Images) -> Prepared:
    """Validate and resolve a request: the job's params and the credits to reserve."""
    tier = tier_service.check_submission(
        session, tenant_id=tenant_id, studio="create", provider=request.provider, batch=request.count
    )
    persona = None
    if request.persona_id:
        try:
            found = persona_service.get(session, tenant_id=tenant_id, persona_id=request.persona_id)
        except NotFound:
            raise ValidationFailed("persona_id", f"unknown persona {request.persona_id!r}") from None
        persona = persona_service.to_read(found)
    # End the read transaction before planning opens its own: on SQLite a second transaction
    # opened while this one is held would wait for this very thread.
    session.rollback()
    init = images.get("init_image")
    init_size: tuple[int, int] | None = None
    if init is not None:
        upload, info = init
        init_size = (info.width, info.height)
        INIT_IMAGE_LIMITS.check(
            field="init_image", width=info.width, height=info.height, who="image-to-image"
        )
        check_request_bytes({"init_image": len(upload.data)}, who="image-to-image")
    planned = _plan(request, allowed=tier.providers, image_to_image=init is not None, init_size=init_size)

    result = PromptResult(request.prompt, request.negative_prompt or None)
    if request.enhance_prompt:
        result = enhance(
            result.prompt,
            result.negative_prompt,
            style_preset=planned.style,
            quality=planned.quality,
            template=planned.template,
        )
    if persona is not None:
        result = persona_service.apply(persona, result)
    style = planned.style
    styled = append_phrases(result.prompt, STYLE_PHRASES[style])[0] if style else result.prompt
    cost = planned.reserve(request.count)
    params = CreateParams(
        prompt=result.prompt,
        styled_prompt=styled,
        negative_prompt=result.negative_prompt,
        prompt_original=request.prompt,
        negative_prompt_original=request.negative_prompt,
        enhancement={
            "enabled": request.enhance_prompt,
            "enhanced_prompt": result.prompt,
            **result.describe(),
        },
        template_id=planned.template.id if planned.template else None,
        persona_id=request.persona_id,
        quality=planned.quality,
        quality_source=planned.quality_source,
        style_preset=style,
        aspect_ratio=planned.label,
        ratio=planned.ratio,
        width=planned.width,
        height=planned.height,
        count=request.count,
        seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED) + 1,
        output_format=request.output_format,
        provider=request.provider,
        model=request.model,
        candidates=planned.candidates,
        estimated_credits=cost,
        init_image=init is not None,
        strength=(DEFAULT_STRENGTH if request.strength is None else request.strength) if init else None,
        init_size=init_size,
    )
    return Prepared(
        params=params,
        images=[init[0]] if init is not None else [],
        cost=price(params),
        provider=request.provider,
        batch=params.count,
    )


# --- worker side -------------------------------------------------------------------------------


def output_name(variation: int) -> str:
    """Output name of variation ``variation`` (0-based): ``image-01`` ... ``image-10``."""
    return f"image-{variation + 1:02d}"


def _finish(image: GeneratedImage, params: CreateParams) -> tuple[bytes, int, int, str, str]:
    """The image at the asked size and format: (data, width, height, format, content type).

    A provider's own shape is cropped (smart: faces, then salient content) to the exact ratio,
    and resized to the exact size when one was asked for; untouched bytes are kept as they are.
    """
    from imagestudio.imaging import CONTENT_TYPES, SourceImage, encode, render_format

    target: tuple[int, int] | None = (params.width, params.height) if params.width and params.height else None
    if target is None and abs((image.width / image.height) / params.ratio - 1) > 0.01:
        if image.width / image.height > params.ratio:
            target = (max(1, round(image.height * params.ratio)), image.height)
        else:
            target = (image.width, max(1, round(image.width / params.ratio)))
    same_format = _FORMAT_OF.get(image.content_type) == params.output_format
    if target is None or target == (image.width, image.height):
        if same_format:
            return image.data, image.width, image.height, params.output_format, image.content_type
        source = SourceImage.load(image.data, max_pixels=get_settings().max_image_pixels)
        data, _, _ = encode(source.image, output_format=params.output_format, quality=OUTPUT_QUALITY)
        return data, image.width, image.height, params.output_format, CONTENT_TYPES[params.output_format]
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

    def fraction() -> float:
        return 0.02 + 0.96 * len(results) / params.count

    def on_images(variations: list[int], images: list[GeneratedImage], call: CallReport) -> None:
        for variation, image in zip(variations, images, strict=True):
            data, width, height, fmt, content_type = _finish(image, params)
            metadata = _output_metadata(params, variation, image, call, width=width, height=height)
            ctx.add_output(
                output_name(variation),
                data,
                ext=_EXT[fmt],
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
        prompt=params.prompt,
        styled_prompt=params.styled_prompt,
        negative_prompt=params.negative_prompt,
        style_preset=params.style_preset,
        output_format=params.output_format,
        quality=params.quality,
        ratio=params.ratio,
        seed=params.seed,
        candidates=params.candidates,
        init_image=init_image,
        strength=params.strength if init_image is not None else None,
    )
    report = provider_executor().run_batch(
        spec,
        variations=todo,
        on_images=on_images,
        checkpoint=lambda message: ctx.progress(fraction(), message),
    )
    summary = _results(params, results, report)
    with session_scope() as session:
        job_service.annotate(session, job_id=ctx.job_id, key="results", value=summary)
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
        "fallbacks": report.fallbacks,
        "variations": variations,
    }
