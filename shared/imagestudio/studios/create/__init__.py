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
from typing import Any, Literal

from sqlalchemy.orm import Session

from imagestudio.credits.tier_service import tier_service
from imagestudio.errors import NotFound, ValidationFailed
from imagestudio.personas.service import persona_service
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.health import provider_health, unavailable_models
from imagestudio.providers.schemas import MAX_SEED, Quality
from imagestudio.providers.selection import Candidate, parse_ratio, plan
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.deployment import WorkerDeployment
from imagestudio.studios.common.http_routes import SubmitRoute
from imagestudio.studios.common.limits import check_request_bytes
from imagestudio.studios.common.pricing import Estimate, first_choice
from imagestudio.studios.create.request import (
    DEFAULT_STRENGTH,
    INIT_IMAGE_LIMITS,
    MAX_SIDE,
    MIN_SIDE,
    CreateParams,
    CreateRequest,
)
from imagestudio.studios.create.run import run
from imagestudio.templates.catalogue import TEMPLATES, Template, aspect_label
from imagestudio.templates.prompting import STYLE_PHRASES, PromptResult, append_phrases, enhance

__all__ = [
    "ROUTE",
    "FREE_TIER",
    "WORKER",
    "CreateParams",
    "CreateRequest",
    "Request",
    "check",
    "estimate",
    "name",
    "prepare",
    "price",
    "run",
]


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
        gone=unavailable_models(),
    )
    return _Plan(template, quality, quality_source, style, ratio, label, width, height, candidates)


def estimate(params: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a create request as :func:`prepare` plans it (tier, provider health): the first choice's
    credits for every image, held at the dearest fallback's."""
    request = CreateRequest.model_validate(params)
    check(request, files={*request.upload_ids(), *request.image_urls()})
    planned = _plan(request, allowed=allowed, image_to_image=request.init_image is not None)
    first = planned.candidates[0]
    unit = planned.reserve(1)
    held = f"; held at {unit}, the dearest fallback, and charged only for images made"
    return first_choice(
        "create",
        item=f"image via {first.provider} {first.model}{held if unit > first.credits else ''}",
        provider=first.provider,
        model=first.model,
        unit_credits=first.credits,
        max_credits=planned.reserve(request.count),
        count=request.count,
        quality=planned.quality,
    )


#: The studio's name: its jobs, queue and actors.
name = "create"
#: The free tier may use it (``messaging.FREE_STUDIOS``, written by ``imagestudio deploy render``).
FREE_TIER = True
#: Its worker's CPU and scaling (``imagestudio deploy render``). Mostly waits on providers: little CPU, many replicas.
WORKER = WorkerDeployment(cpu_request="250m", cpu_limit="1", max_replicas=20, queue_length=8)
Request = CreateRequest


def check(request: CreateRequest, *, files: Collection[str]) -> None:
    """Refuse a strength without an init image (it would be silently ignored), and a seed with no room.

    Image i uses seed + i, and every one of those seeds must be one every provider takes.
    """
    if request.strength is not None and "init_image" not in files:
        raise ValidationFailed("strength", "strength applies to image-to-image: give an init_image too")
    if request.seed is not None and request.seed + request.count - 1 > MAX_SEED:
        raise ValidationFailed(
            "seed",
            f"image i uses seed + i: with count {request.count} seed is at most {MAX_SEED - request.count + 1}",
        )


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
        check_request_bytes({"init_image": upload.size_bytes}, who="image-to-image")
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
        seed=request.seed
        if request.seed is not None
        else secrets.randbelow(MAX_SEED - request.count + 1) + 1,
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


#: The gateway's route for this studio (``studios/common/http_routes.py``).
ROUTE = SubmitRoute(
    "/create",
    "create_images",
    """Accept a create job: 1-10 images from a prompt (and a template, persona, provider); 202 with the job.

    The body is JSON (``init_image`` an upload id) or a multipart form (``init_image`` a file).
    Everything is checked before the job is queued: an unknown template, provider, model or
    persona, an aspect the chosen provider cannot make, a bad prompt or count, a ``strength``
    without an ``init_image``, or an explicit provider or model that takes no init image is a
    422 naming the field. The job's ``params`` hold the resolved request (enhanced prompt and the
    reasons for each addition, the providers planned) and, when it ends, ``results`` per image.
    """,
)
