"""Control studio: images generated under an image's control — sketch, structure, style, style transfer.

Operations (Stability v2beta ``/stable-image/control/{endpoint}``, and an image-conditioned
equivalent on WaveSpeed where one is configured):

- ``sketch``: a sketch or line drawing plus a prompt → an image that follows its lines (``control_strength``);
- ``structure``: an image whose edges are kept while the prompt changes its content (``control_strength``);
- ``style``: a style reference plus a prompt → a new image in that style (``fidelity``, ``aspect_ratio``);
- ``style_transfer``: an init image and a style image → the init image in that style
  (``style_strength``, ``composition_fidelity``, ``change_strength``).

Nothing generates images locally, so a job no configured provider can serve is refused (422
naming ``provider``) before anything is stored. What is done locally is the pre-processing, and it
is shown: sketch's cleaned line art and structure's Canny edge map (:mod:`imagestudio.imaging.control`)
are what the provider is sent, and each job stores it as a second output, ``control_map`` (free).

Routes follow create's rules: the providers configured here and included in the tenant's tier,
within their input limits, open circuits last; the job falls back along them (the shared engine's
retries, Retry-After and circuit breaker) and its output says which served. Stability is first:
its endpoints are the operations and honour every strength; WaveSpeed's multi-image edit model
takes the same images and an instruction, and its output lists the strengths it could not apply.
Every strength is bounded and sent as given — an explicit ``0.0`` is honoured (the system this
replaces turned it into the default).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from imagestudio.credits.tier_service import tier_service
from imagestudio.errors import ValidationFailed
from imagestudio.jobs.runner import JobContext
from imagestudio.messaging import Queue
from imagestudio.providers.http import describe_image
from imagestudio.providers.protocols import as_controller, as_prompt_editor
from imagestudio.providers.registry import ProviderClient, find_model
from imagestudio.providers.schemas import ControlRequest as ProviderControlRequest
from imagestudio.providers.schemas import GeneralEditRequest, GeneratedImage, PendingResult
from imagestudio.providers.stability import STABILITY_ASPECT_RATIOS, STYLE_PRESETS
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
    ProviderStatus,
    Route,
    credits_of,
    estimate_routes,
    provider_status,
    whole_credits,
)

#: The studio's name: its jobs, queue and actors.
name = "control"

__all__ = [
    "OPERATIONS",
    "ControlParams",
    "ControlRequest",
    "Operation",
    "Request",
    "check",
    "describe_operations",
    "name",
    "poll",
    "prepare",
    "price",
    "run",
]

OperationName = Literal["sketch", "structure", "style", "style_transfer"]
ProviderName = Literal["auto", "stability", "wavespeed"]
OutputFormat = Literal["png", "jpeg", "webp"]
StylePreset = Literal[STYLE_PRESETS]  # type: ignore[valid-type]
AspectRatio = Literal[STABILITY_ASPECT_RATIOS]  # type: ignore[valid-type]

#: The generated image, and the pre-processed image the provider was given (sketch, structure).
OUTPUT_NAME = "controlled"
CONTROL_MAP = "control_map"
MAX_PROMPT_CHARS = 10_000
MAX_SEED = 4_294_967_294
MAX_WAVESPEED_SEED = 2_147_483_647
#: WaveSpeed's multi-image edit model that serves the operations Stability's endpoints serve.
WAVESPEED_MODEL = "seedream-v4.5-edit"
UPLOAD_FIELDS = ("image", "style_image")
STRENGTHS = ("control_strength", "fidelity", "style_strength", "composition_fidelity", "change_strength")
COMMON_FIELDS = ("negative_prompt", "seed", "output_format", "provider")

#: Stability's control limits: each side at least 64 px, 4,096 to 9,437,184 pixels, 1:2.5 to 2.5:1.
_STABILITY_LIMITS = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184, aspect=STABILITY_ASPECT)
#: Seedream 4.5 edit: longest side 4096 (the registry's ``max_side``).
_WAVESPEED_LIMITS = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=4096 * 4096, max_side=4096)


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
    #: Strength fields and Stability's default for each (used when the request leaves one out).
    defaults: Mapping[str, float] = field(default_factory=dict)
    #: The local pre-processing sent to the provider and stored as ``control_map``.
    control_map: Literal["line_art", "edges"] | None = None
    #: What WaveSpeed's edit model is told (``{prompt}`` is the request's prompt).
    instruction: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.required, *self.optional, *COMMON_FIELDS)

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
            defaults={"control_strength": 0.7},
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
            defaults={"control_strength": 0.7},
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
            defaults={"fidelity": 0.5},
            instruction="Create a new image in exactly the visual style of this reference image: {prompt}",
        ),
        Operation(
            id="style_transfer",
            name="Style transfer",
            description="An init image and a style image: the init image redrawn in that style.",
            endpoint="style-transfer",
            required=("image", "style_image"),
            optional=("prompt", "style_strength", "composition_fidelity", "change_strength"),
            defaults={"style_strength": 1.0, "composition_fidelity": 0.9, "change_strength": 0.9},
            instruction="Redraw the first image in the visual style of the second image, keeping its "
            "composition. {prompt}",
        ),
    )
}


def _strength(description: str, default: float, *, low: float = 0.0) -> Any:
    return Field(
        default=None, ge=low, le=1, description=f"{description} Default {default:g}; 0.0 is honoured."
    )


class ControlRequest(StudioRequest):
    """``POST /control``: the operation, its images and strengths (see ``GET /control/operations``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operation": "sketch",
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "prompt": "a watercolour lighthouse at dusk",
                    "control_strength": 0.6,
                },
                {
                    "operation": "style_transfer",
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "style_image": "upl_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
                    "style_strength": 0.0,
                },
            ]
        }
    )

    image_fields = UPLOAD_FIELDS
    required_images = ("image",)

    operation: OperationName = Field(description="See GET /control/operations")
    image: UploadId | None = Field(
        default=None,
        description="sketch: the drawing; structure: the image whose structure is kept; style: the style "
        "reference; style_transfer: the init image.",
    )
    style_image: UploadId | None = Field(default=None, description="style_transfer: the style to take.")
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS, description="What to create.")
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="What to keep out."
    )
    control_strength: float | None = _strength(
        "sketch, structure: how closely the output follows the image.", 0.7
    )
    fidelity: float | None = _strength("style: how closely the output takes the reference's style.", 0.5)
    style_strength: float | None = _strength("style_transfer: how much of the style image is applied.", 1.0)
    composition_fidelity: float | None = _strength(
        "style_transfer: how closely the init image's composition is kept.", 0.9
    )
    change_strength: float | None = _strength(
        "style_transfer: how much the init image may change (Stability's minimum is 0.1).", 0.9, low=0.1
    )
    aspect_ratio: AspectRatio | None = Field(
        default=None, description="style: the output's shape (default 1:1)."
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="Fixes the randomness.")
    style_preset: StylePreset | None = None
    output_format: OutputFormat = "png"
    provider: ProviderName = Field(
        default="auto",
        description="auto: Stability, then WaveSpeed's equivalent, as configured, allowed and healthy.",
    )

    def given(self, files: Collection[str]) -> list[str]:
        """Inputs the client sent (fields not blank, files), in field order."""
        sent = {n for n in FIELDS if n not in UPLOAD_FIELDS and getattr(self, n) not in (None, "")}
        sent |= set(files)
        sent -= {"output_format", "provider"}  # always present (they have defaults)
        return [n for n in FIELDS if n in sent]


#: Every input, described so a form can be built from ``GET /control/operations``.
FIELDS: dict[str, dict[str, Any]] = {
    name: spec for name, spec in ControlRequest.catalogue_fields().items() if name != "operation"
}
Request = ControlRequest


class ControlParams(BaseModel):
    """The validated, resolved request stored on the job; the worker needs nothing else."""

    model_config = ConfigDict(extra="ignore")

    operation: OperationName
    provider: ProviderName
    routes: list[Route]
    skipped: list[dict[str, str]] = []
    prompt: str | None = None
    negative_prompt: str | None = None
    #: Each strength the operation takes, resolved: the request's, else Stability's default.
    strengths: dict[str, float] = {}
    aspect_ratio: str | None = None
    seed: int | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"
    image_size: tuple[int, int]
    estimated_credits: int


def check(request: ControlRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the operation does not take or lacks."""
    _operation(request, files=files)


def _operation(form: ControlRequest, *, files: Collection[str]) -> Operation:
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


# --- routes --------------------------------------------------------------------------------------


def _credits(provider: str, model: str) -> int:
    info = find_model(provider, model)
    assert info is not None, f"{provider} {model} is missing from the registry"
    return whole_credits(info.credits_per_image)


def _candidates(op: Operation, provider: ProviderName) -> list[Route]:
    """The routes that can serve ``op``, best first: Stability's endpoint, then WaveSpeed's equivalent."""
    model = f"control/{op.endpoint}"
    routes = [
        Route(provider="stability", model=model, credits=_credits("stability", model)),
        Route(
            provider="wavespeed",
            model=WAVESPEED_MODEL,
            credits=_credits("wavespeed", WAVESPEED_MODEL),
            asynchronous=True,
        ),
    ]
    return [route for route in routes if provider in ("auto", route.provider)]


def _limits(route: Route) -> ImageLimits:
    return _STABILITY_LIMITS if route.provider == "stability" else _WAVESPEED_LIMITS


def _plan(
    op: Operation,
    *,
    provider: ProviderName,
    allowed: Collection[str],
    status: Callable[[str], ProviderStatus],
    refusal_of: Callable[[Route], ValidationFailed | None] = lambda route: None,
) -> tuple[list[Route], list[dict[str, str]]]:
    """Create's rules: configured, in the tier, within limits; open circuits last. Raises when none can serve."""
    routes: list[Route] = []
    failing: list[Route] = []
    skipped: list[dict[str, str]] = []
    outside_tier: list[Route] = []
    refusals: list[ValidationFailed] = []
    for route in _candidates(op, provider):
        state = status(route.provider)
        reason = None
        if not state.configured:
            reason = "not configured"
        elif route.provider not in allowed:
            reason = "not included in the tenant's tier"
            outside_tier.append(route)
        elif (refused := refusal_of(route)) is not None:
            reason = refused.detail
            refusals.append(refused)
        if reason is not None:
            skipped.append({"provider": route.provider, "model": route.model, "reason": reason})
        else:
            (routes if state.healthy else failing).append(route)
    routes += failing  # an open circuit is tried last, not never (create's rule)
    if routes:
        return routes, skipped
    if refusals:
        raise refusals[0]
    if outside_tier:
        return outside_tier[:1], skipped  # submission answers the tier's 403, naming the provider
    wanted = "stability or wavespeed" if provider == "auto" else provider
    raise ValidationFailed(
        "provider",
        f"{op.id} needs a provider to generate the image and {wanted} is not configured here "
        "(set IMAGESTUDIO_STABILITY_API_KEY or IMAGESTUDIO_WAVESPEED_API_KEY); nothing generates "
        "control images locally",
    )


def prepare(
    session: Session,
    *,
    tenant_id: str,
    request: ControlRequest,
    images: Images,
    status: Any = provider_status,
) -> Prepared:
    """Validate against the operation and each provider's limits, resolve the strengths, plan the routes."""
    form, files = request, images
    op = _operation(form, files=files)
    sizes = {n: len(upload.data) for n, (upload, _) in files.items()}

    def refusal_of(route: Route) -> ValidationFailed | None:
        def checks() -> None:
            who = f"{route.provider} {route.model}"
            for image_field in op.images:
                info = files[image_field][1]
                _limits(route).check(field=image_field, width=info.width, height=info.height, who=who)
            if route.provider == "wavespeed" and form.seed is not None and form.seed > MAX_WAVESPEED_SEED:
                raise ValidationFailed("seed", f"wavespeed takes seeds up to {MAX_WAVESPEED_SEED}")
            if route.provider == "stability":
                check_request_bytes(sizes, who="stability")

        refused = routed.refusal(checks)
        return refused if isinstance(refused, ValidationFailed) else None

    tier = tier_service.tier_of(session, tenant_id=tenant_id)
    session.rollback()  # planning reads provider health in its own transaction
    routes, skipped = _plan(
        op, provider=form.provider, allowed=tier.providers, status=status, refusal_of=refusal_of
    )
    info = files["image"][1]
    params = ControlParams(
        operation=op.id,
        provider=form.provider,
        routes=routes,
        skipped=skipped,
        prompt=form.text("prompt"),
        negative_prompt=form.text("negative_prompt"),
        strengths={
            key: (given if (given := getattr(form, key)) is not None else default)
            for key, default in op.defaults.items()
        },
        aspect_ratio=(form.aspect_ratio or "1:1") if op.id == "style" else None,
        seed=form.seed,
        style_preset=form.style_preset,
        output_format=form.output_format,
        image_size=(info.width, info.height),
        estimated_credits=credits_of(routes),
    )
    return Prepared(
        params=params,
        images=[upload for upload, _ in files.values()],
        cost=price(params),
        provider=routes[0].provider,
    )


def price(params: ControlParams) -> int:
    """Credits a control job reserves: its dearest route (only the route that served is captured)."""
    return params.estimated_credits


class ControlEstimateRequest(BaseModel):
    """``POST /estimate-cost`` for the control studio: the images are not needed to price a request."""

    model_config = ConfigDict(extra="ignore")

    operation: OperationName
    provider: ProviderName = "auto"


@register("control")
def _price_request(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a control job as :func:`prepare` would plan it now (configuration, tier, circuit state)."""
    asked = ControlEstimateRequest.model_validate(request)
    op = OPERATIONS[asked.operation]
    routes, _ = _plan(op, provider=asked.provider, allowed=allowed, status=provider_status)
    return estimate_routes("control", op.id, routes)


def describe_operations(status: Any = provider_status) -> dict[str, Any]:
    """``GET /control/operations``: each operation's inputs, defaults, bounds, images, providers and credits."""
    seen: dict[str, ProviderStatus] = {}

    def state(provider: str) -> ProviderStatus:
        if provider not in seen:
            seen[provider] = status(provider)
        return seen[provider]

    operations = []
    for op in OPERATIONS.values():
        providers = []
        for route in _candidates(op, "auto"):
            current = state(route.provider)
            providers.append(
                {
                    "name": route.provider,
                    "model": route.model,
                    "credits": route.credits,
                    "asynchronous": route.asynchronous,
                    "configured": current.configured,
                    "healthy": current.healthy,
                    "simulated": current.simulated,
                    "applies": list(op.defaults) if route.provider == "stability" else [],
                    "limits": {**_limits(route).describe(), "max_request_bytes": PROVIDER_MAX_REQUEST_BYTES},
                }
            )
        operations.append(
            {
                "id": op.id,
                "name": op.name,
                "description": op.description,
                "images": list(op.images),
                "required": list(op.required),
                "optional": [*op.optional, *COMMON_FIELDS],
                "inputs": {n: FIELDS[n] for n in op.inputs},
                "defaults": dict(op.defaults),
                "control_map": op.control_map,
                "providers": providers,
                "available": any(p["configured"] for p in providers),
            }
        )
    return {"operations": operations, "fields": FIELDS}


# --- the worker ----------------------------------------------------------------------------------


def run(ctx: JobContext) -> None:
    """Serve one control job: Stability, else WaveSpeed's equivalent (retries, breaker, fallback)."""
    params = ControlParams.model_validate(ctx.params)
    routed.run_routes(
        ctx,
        params.routes,
        output=OUTPUT_NAME,
        queue=Queue.control,
        read_inputs=lambda: {n: ctx.read_input(n) for n in UPLOAD_FIELDS if n in ctx.inputs},
        local=_no_local,
        provider=lambda client, route, ready: _provider(client, route, params, ready),
        deliver=deliver,
    )


def poll(job_id: str, *, seq: int) -> None:
    """One poll of a control job's asynchronous provider work (``control.poll``)."""
    poll_pending(job_id, seq=seq, queue=Queue.control, deliver=deliver)


def _no_local(inputs: Mapping[str, bytes]) -> bytes:
    raise ValidationFailed("provider", "control has no local generation")  # prepare() never plans one


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


def deliver(ctx: JobContext, produced: Produced) -> None:
    """Store the control map (sketch, structure) then the generated image, with which provider served."""
    params = ControlParams.model_validate(ctx.params)
    op = OPERATIONS[params.operation]
    mapped = control_map(op.id, ctx.read_input("image")) if op.control_map else None
    if mapped is not None:
        # Stored first: a redelivery re-runs until the generated image is stored, so the map is never lost.
        width, height, _ = describe_image(mapped, provider="local")
        ctx.add_output(
            CONTROL_MAP,
            mapped,
            ext="png",
            content_type="image/png",
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
    data, content_type, fmt, ext = in_format(produced, params.output_format)
    applied = params.strengths if produced.route.provider == "stability" else {}
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
            "served_by": produced.route.provider,
            "input_size": list(params.image_size),
            "strengths": applied,
            "not_applied": sorted(set(params.strengths) - set(applied)),
            "skipped": params.skipped,
        },
        provider=produced.route.provider,
        prompt=params.prompt,
    )
