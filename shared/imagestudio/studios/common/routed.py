"""What the routed studios (edit, control, upscale) share: routes planned, priced and served, once.

An edit operation and an upscale mode each give a provider :class:`Route` and, when they have a
local path, a local one (:func:`two_routes`); a control operation gives its providers in order.
Each studio judges its own request (the image checks of each path, the params it stores); the
submission around that judging (tier, planning, the params every routed job stores, the credits
held, the estimate) is :class:`RoutedStudio`, and the worker's run around
:func:`~imagestudio.studios.common.serving.serve` is :class:`RoutedWork`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope
from imagestudio.errors import ImageStudioError, ValidationFailed
from imagestudio.jobs.runner import JobContext
from imagestudio.jobs.service import Upload
from imagestudio.messaging import Studio
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.polling import poll_pending
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.common.produced import REENCODE_QUALITY, Deliver, Produced, store_output
from imagestudio.studios.common.request import StoredImage, StudioRequest
from imagestudio.studios.common.routes import (
    Path,
    ProviderStatus,
    Route,
    RoutedParams,
    credits_of,
    estimate_routes,
    plan_routes,
    provider_status,
)
from imagestudio.studios.common.serving import serve

P = TypeVar("P", bound=RoutedParams)
R = TypeVar("R", bound=StudioRequest)

#: Plans a job's routes for the providers a tier allows and the providers' health: the routes to
#: try in order and those left out with why; raises when none can serve.
Plan = Callable[[Collection[str], Callable[[str], ProviderStatus]], tuple[list[Route], list[dict[str, str]]]]


def price(params: RoutedParams) -> int:
    """Credits a routed job reserves: its dearest route (only the route that served is captured)."""
    return params.estimated_credits


def refusal(check: Callable[[], None]) -> ImageStudioError | None:
    """Run ``check``; the refusal it raised, or None."""
    try:
        check()
    except ImageStudioError as refused:
        return refused
    return None


def two_routes(
    *,
    path: Path,
    what: str,
    routes: tuple[Route, Route | None],
    provider_checks: Callable[[], None] | None = None,
    local_checks: Callable[[], None] | None = None,
) -> Plan:
    """The plan of a studio with one provider route and perhaps a local one (edit, upscale).

    The checks are the image checks of each path (none: an estimate, which has no images yet);
    what one raises leaves that path out, or is the answer when no path is left.
    """
    provider, local = routes

    def planned(
        allowed: Collection[str], status: Callable[[str], ProviderStatus]
    ) -> tuple[list[Route], list[dict[str, str]]]:
        return plan_routes(
            path=path,
            what=what,
            provider=provider,
            local=local,
            provider_refusal=refusal(provider_checks) if provider_checks is not None else None,
            local_refusal=refusal(local_checks) if local is not None and local_checks is not None else None,
            allowed=allowed,
            status=status,
        )

    return planned


@dataclass(frozen=True, kw_only=True)
class Judged:
    """A request its studio has judged: how its routes are planned, and what its params hold."""

    plan: Plan
    #: The main image's width and height, from its header.
    image_size: tuple[int, int]
    images: Sequence[Upload | StoredImage]
    #: The params beyond what every routed job stores (routes, skipped, image size, credits).
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class RoutedStudio(Generic[R, P]):
    """The submission half of a routed studio (edit, control, upscale): ``prepare`` and ``estimate``, once.

    A studio names its request and params models, then its own judging by name: ``judge`` refuses
    what the request and the images' headers alone show, and gives the plan and the params;
    ``priced`` gives what an estimate plans (what the job is, and its plan without image checks).
    The tier, the planning, the params' common fields and the credits held are the same for all.
    """

    name: str
    request: type[R]
    params: type[P]
    _: KW_ONLY
    judge: Callable[[R, Images], Judged]
    priced: Callable[[R], tuple[str, Plan]]

    def prepare(
        self,
        session: Session,
        *,
        tenant_id: str,
        request: R,
        images: Images,
        status: Callable[[str], ProviderStatus] = provider_status,
    ) -> Prepared:
        """Judge the request, plan its routes for the tenant's tier and the providers' health; the job to submit."""
        judged = self.judge(request, images)
        tier = tier_service.tier_of(session, tenant_id=tenant_id)
        session.rollback()  # planning reads provider health in its own transaction
        routes, skipped = judged.plan(tier.providers, status)
        params = self.params(
            routes=routes,
            skipped=skipped,
            image_size=judged.image_size,
            estimated_credits=credits_of(routes),
            **judged.fields,
        )
        # Reserving the dearest route's credits, the first route's provider named.
        return Prepared(params=params, images=judged.images, cost=price(params), provider=routes[0].provider)

    def estimate(self, request: dict[str, Any], allowed: Collection[str]) -> Estimate:
        """``POST /estimate-cost``: priced as :meth:`prepare` would plan it now (the images are not known yet)."""
        asked = self.request.model_validate(request)  # the route's own fields; the images are not needed
        what, plan = self.priced(asked)
        routes, _ = plan(allowed, provider_status)
        return estimate_routes(self.name, what, routes)


def delivered(job_id: str, *, output: str) -> bool:
    """Whether the job's output is already stored (a redelivery where only the transition was missing)."""
    with session_scope() as session:
        return any(asset.name == output for asset in asset_service.for_job(session, job_id=job_id))


def run_routes(
    ctx: JobContext,
    routes: list[Route],
    *,
    output: str,
    queue: Studio,
    read_inputs: Callable[[], Mapping[str, bytes]],
    local: Callable[[Mapping[str, bytes]], bytes],
    provider: Callable[[Any, Route, Mapping[str, bytes]], GeneratedImage | PendingResult],
    deliver: Deliver,
) -> None:
    """The worker's run: serve the planned routes in order, unless the output is already stored.

    The inputs are read only when there is work to do (a redelivery after delivery reads nothing).
    """
    if delivered(ctx.job_id, output=output):
        return  # a redelivery after the output was stored: only the transition was missing
    inputs = read_inputs()
    serve(
        ctx,
        routes,
        queue=queue,
        inputs=inputs,
        local=lambda route: local(inputs),
        provider=provider,
        deliver=deliver,
    )


@dataclass(frozen=True)
class RoutedWork(Generic[P]):
    """The worker half of a routed studio: what differs between edit, control and upscale, named once.

    ``run`` (a job on its planned routes), ``deliver`` (its output stored with how it was made)
    and ``poll`` (one poll of asynchronous provider work) are the same for all three, and are
    these methods. The studio's queue, the model of its stored params and its output's name come
    first, then its work by name:
    ``RoutedWork(Studio.upscale, UpscaleParams, "upscaled", provider=..., describe=..., local=...)``.
    """

    queue: Studio
    params: type[P]
    #: The output a delivered job has stored (a redelivery finding it does nothing).
    output: str
    _: KW_ONLY
    provider: Callable[[Any, Route, P, Mapping[str, bytes]], GeneratedImage | PendingResult]
    #: What the output records of the studio's own params, beyond how it was made and the skipped routes.
    describe: Callable[[P, Produced], dict[str, Any]]
    #: The local path's work (None: the studio has none, and ``prepare`` never plans one).
    local: Callable[[P, Mapping[str, bytes]], bytes] | None = None
    #: Checks of the inputs that need their pixels (raise to fail the job before any route is tried).
    check_inputs: Callable[[P, Mapping[str, bytes]], None] | None = None
    #: Outputs stored before the main one (control's map): a redelivery re-runs until the main one is stored.
    store_first: Callable[[JobContext, P], None] | None = None
    #: The encoder quality of a re-encoded output (upscale's preset's; else :data:`REENCODE_QUALITY`).
    quality: Callable[[P], int] | None = None

    def run(self, ctx: JobContext) -> None:
        """Serve one job: its planned routes in order (retries, breaker, fallback)."""
        params = self.params.model_validate(ctx.params)
        run_routes(
            ctx,
            params.routes,
            output=self.output,
            queue=self.queue,
            read_inputs=lambda: self._inputs(ctx, params),
            local=lambda inputs: self._local(params, inputs),
            provider=lambda client, route, ready: self.provider(client, route, params, ready),
            deliver=self.deliver,
        )

    def _inputs(self, ctx: JobContext, params: P) -> dict[str, bytes]:
        """Every image the job was given, checked."""
        inputs = {name: ctx.read_input(name) for name in ctx.inputs}
        if self.check_inputs is not None:
            self.check_inputs(params, inputs)
        return inputs

    def _local(self, params: P, inputs: Mapping[str, bytes]) -> bytes:
        if self.local is None:
            raise ValidationFailed("path", f"{self.queue.value} has no local path")
        return self.local(params, inputs)

    def deliver(self, ctx: JobContext, produced: Produced) -> None:
        """Store the output in the asked format, with how it was made, the studio's facts and the skipped routes."""
        params = self.params.model_validate(ctx.params)
        if self.store_first is not None:
            self.store_first(ctx, params)
        store_output(
            ctx,
            self.output,
            produced,
            output_format=params.output_format,
            quality=self.quality(params) if self.quality is not None else REENCODE_QUALITY,
            prompt=params.prompt,
            metadata={**self.describe(params, produced), "skipped": params.skipped},
        )

    def poll(self, job_id: str, *, seq: int) -> None:
        """One poll of a job's asynchronous provider work (``<studio>.poll``)."""
        poll_pending(job_id, seq=seq, queue=self.queue, deliver=self.deliver)
