"""What edit operations and upscale modes share: a provider route and a local route, planned, priced and served.

An edit operation and an upscale mode each give a provider :class:`Route` and, when they have a
local path, a local one; the image checks of each path; and, in the worker, the local work and
the provider request. The planning (tier, health, refusals), the estimate and the worker's run
around :func:`~imagestudio.studios.common.serving.serve` are here, once.
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
from imagestudio.studios.common.base import Prepared
from imagestudio.studios.common.polling import poll_pending
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.common.produced import Deliver
from imagestudio.studios.common.request import StoredImage
from imagestudio.studios.common.routes import (
    Path,
    ProviderStatus,
    Route,
    RoutedParams,
    estimate_routes,
    plan_routes,
    provider_status,
)
from imagestudio.studios.common.serving import serve

P = TypeVar("P", bound=RoutedParams)


def price(params: RoutedParams) -> int:
    """Credits a routed job reserves: its dearest route (only the route that served is captured)."""
    return params.estimated_credits


def prepared(params: RoutedParams, images: Sequence[Upload | StoredImage]) -> Prepared:
    """A routed job ready to submit: reserving its dearest route's credits, its first route's provider named."""
    return Prepared(params=params, images=images, cost=price(params), provider=params.routes[0].provider)


def refusal(check: Callable[[], None]) -> ImageStudioError | None:
    """Run ``check``; the refusal it raised, or None."""
    try:
        check()
    except ImageStudioError as refused:
        return refused
    return None


def plan(
    session: Session,
    *,
    tenant_id: str,
    path: Path,
    what: str,
    routes: tuple[Route, Route | None],
    provider_checks: Callable[[], None],
    local_checks: Callable[[], None],
    status: Callable[[str], ProviderStatus] = provider_status,
) -> tuple[list[Route], list[dict[str, str]]]:
    """The routes a job tries, for the tenant's tier and the providers' health; raises when none can serve."""
    provider, local = routes
    tier = tier_service.tier_of(session, tenant_id=tenant_id)
    session.rollback()  # planning reads provider health in its own transaction
    return plan_routes(
        path=path,
        what=what,
        provider=provider,
        local=local,
        provider_refusal=refusal(provider_checks),
        local_refusal=refusal(local_checks) if local is not None else None,
        allowed=tier.providers,
        status=status,
    )


def estimate(
    studio: str, *, what: str, path: Path, routes: tuple[Route, Route | None], allowed: Collection[str]
) -> Estimate:
    """``POST /estimate-cost``: priced as :func:`plan` would plan it now (the images are not known yet)."""
    provider, local = routes
    planned, _ = plan_routes(
        path=path,
        what=what,
        provider=provider,
        local=local,
        provider_refusal=None,
        local_refusal=None,
        allowed=allowed,
    )
    return estimate_routes(studio, what, planned)


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

    ``run`` (a job on its planned routes) and ``poll`` (one poll of asynchronous provider work)
    are the same for all three, and are these methods. The studio's queue, the model of its
    stored params and its output's name come first, then its work by name:
    ``RoutedWork(Studio.upscale, UpscaleParams, "upscaled", provider=..., deliver=..., local=...)``.
    """

    queue: Studio
    params: type[P]
    #: The output a delivered job has stored (a redelivery finding it does nothing).
    output: str
    _: KW_ONLY
    provider: Callable[[Any, Route, P, Mapping[str, bytes]], GeneratedImage | PendingResult]
    deliver: Deliver
    #: The local path's work (None: the studio has none, and ``prepare`` never plans one).
    local: Callable[[P, Mapping[str, bytes]], bytes] | None = None
    #: Checks of the inputs that need their pixels (raise to fail the job before any route is tried).
    check_inputs: Callable[[P, Mapping[str, bytes]], None] | None = None

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

    def poll(self, job_id: str, *, seq: int) -> None:
        """One poll of a job's asynchronous provider work (``<studio>.poll``)."""
        poll_pending(job_id, seq=seq, queue=self.queue, deliver=self.deliver)
