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

This module is the studio's shape (:mod:`imagestudio.studios.common.base`) and its planning and pricing;
the operations catalogue and the request model are in :mod:`~imagestudio.studios.control.operations`,
the worker half (``run``, ``poll``, the provider request, delivery) in
:mod:`~imagestudio.studios.control.run`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from imagestudio.errors import ValidationFailed
from imagestudio.providers.registry import find_model
from imagestudio.studios.common import routed
from imagestudio.studios.common.base import Images
from imagestudio.studios.common.deployment import WorkerDeployment
from imagestudio.studios.common.http_routes import CatalogueRoute, SubmitRoute, example_status
from imagestudio.studios.common.limits import (
    PROVIDER_MAX_REQUEST_BYTES,
    STABILITY_SHAPED,
    ImageLimits,
    check_request_bytes,
)
from imagestudio.studios.common.routes import (
    NOT_IN_TIER,
    ProviderStatus,
    Route,
    provider_status,
    unavailable,
    whole_credits,
)
from imagestudio.studios.control.operations import (
    COMMON_FIELDS,
    FIELDS,
    OPERATIONS,
    WAVESPEED_MODEL,
    ControlCatalogue,
    ControlParams,
    ControlRequest,
    Operation,
    ProviderName,
    resolve_operation,
)
from imagestudio.studios.control.run import poll, run

#: The studio's name: its jobs, queue and actors.
name = "control"
#: Its worker's CPU and scaling (``imagestudio deploy render``). Local maps are CPU-bound: a whole core each, few replicas, a short queue per replica.
WORKER = WorkerDeployment(cpu_request="1", max_replicas=4, queue_length=4)

__all__ = [
    "ROUTE",
    "CATALOGUES",
    "list_operations",
    "WORKER",
    "OPERATIONS",
    "ControlParams",
    "ControlRequest",
    "Operation",
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

Request = ControlRequest

#: Seedream 4.5 edit: longest side 4096 (the registry's ``max_side``).
_WAVESPEED_LIMITS = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=4096 * 4096, max_side=4096)


def check(request: ControlRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: inputs the operation does not take or lacks."""
    resolve_operation(request, files=files)


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
    return STABILITY_SHAPED if route.provider == "stability" else _WAVESPEED_LIMITS


def _plan(
    op: Operation,
    allowed: Collection[str],
    status: Callable[[str], ProviderStatus],
    *,
    provider: ProviderName,
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
        reason = unavailable(state, route.provider, allowed)
        if reason == NOT_IN_TIER:
            outside_tier.append(route)
        elif reason is None and (refused := refusal_of(route)) is not None:
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


def _judge(form: ControlRequest, files: Images) -> routed.Judged:
    """Validate against the operation and each provider's limits, resolve the strengths."""
    op = resolve_operation(form, files=files)
    sizes = {n: upload.size_bytes for n, (upload, _) in files.items()}

    def refusal_of(route: Route) -> ValidationFailed | None:
        def checks() -> None:
            who = f"{route.provider} {route.model}"
            for image_field in op.images:
                info = files[image_field][1]
                _limits(route).check(field=image_field, width=info.width, height=info.height, who=who)
            if route.provider == "stability":
                check_request_bytes(sizes, who="stability")

        refused = routed.refusal(checks)
        return refused if isinstance(refused, ValidationFailed) else None

    info = files["image"][1]
    fields = {
        "operation": op.id,
        "provider": form.provider,
        "prompt": form.text("prompt"),
        "negative_prompt": form.text("negative_prompt"),
        "strengths": {
            key: (given if (given := getattr(form, key)) is not None else default)
            for key, default in op.defaults.items()
        },
        "aspect_ratio": (form.aspect_ratio or "1:1") if op.id == "style" else None,
        "seed": form.seed,
        "style_preset": form.style_preset,
        "output_format": form.output_format,
    }
    return routed.Judged(
        plan=functools.partial(_plan, op, provider=form.provider, refusal_of=refusal_of),
        image_size=(info.width, info.height),
        images=[upload for upload, _ in files.values()],
        fields=fields,
    )


def _priced(asked: ControlRequest) -> tuple[str, routed.Plan]:
    """A control job as an estimate plans it: the operation and its providers in order."""
    op = OPERATIONS[asked.operation]
    return op.id, functools.partial(_plan, op, provider=asked.provider)


#: Submission: judged here, planned for the tier and the providers' health, priced at the dearest route.
STUDIO = routed.RoutedStudio("control", ControlRequest, ControlParams, judge=_judge, priced=_priced)
prepare = STUDIO.prepare
estimate = STUDIO.estimate
price = routed.price


def describe_operations(status: Any = provider_status) -> dict[str, Any]:
    """``GET /control/operations``: each operation's inputs, defaults, bounds, images, providers and credits."""
    state: Callable[[str], ProviderStatus] = functools.cache(status)  # each provider read once
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


def list_operations() -> ControlCatalogue:
    """Every control operation: images, fields with defaults and bounds, providers, credits, control map."""
    return ControlCatalogue.model_validate(describe_operations())


#: The gateway's routes for this studio (``studios/common/http_routes.py``).
ROUTE = SubmitRoute(
    "/control",
    "submit_control",
    """Accept a control job (202). Inputs, defaults, bounds and providers per operation: GET /control/operations.

    The body is a multipart form with the image files, or JSON in which each image is an upload
    id. Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a strength outside its bounds (0.0 is a value, honoured),
    images outside every provider's pixel, side and aspect limits, a provider request over 10 MiB
    (413), and an operation no configured provider can serve (nothing generates these locally).
    """,
)
CATALOGUES = (
    CatalogueRoute(
        path="/control/operations", read=list_operations, example=lambda: describe_operations(example_status)
    ),
)
