"""The ways a job may be served (a provider route or the local one), planned at submission and priced.

::

    Route, plan_routes()      the paths a request may take, in order, decided at submission
    provider_status()         configured here? circuit closed? (the gateway's view)
    estimate_routes()         ``POST /estimate-cost`` for planned routes
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from imagestudio.errors import ImageStudioError, ValidationFailed
from imagestudio.imaging.formats import OutputFormat
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.health import provider_health
from imagestudio.studios.common.pricing import Estimate, first_choice

#: The route name of the local (no-provider) path.
LOCAL = "local"

Path = Literal["auto", "provider", "local"]


class Route(BaseModel):
    """One way a job may be served: a provider endpoint or the local path."""

    model_config = ConfigDict(frozen=True)

    #: ``stability``, ``wavespeed`` or ``local``.
    provider: str
    #: The provider's model or endpoint (``edit/inpaint``, ``qwen-edit``) or ``local/<operation>``.
    model: str
    credits: int
    asynchronous: bool = False

    @property
    def local(self) -> bool:
        return self.provider == LOCAL


class RoutedParams(BaseModel):
    """What every routed job stores (edit, control, upscale): its planned routes and the fields all three take."""

    model_config = ConfigDict(extra="ignore")

    routes: list[Route]
    #: Routes ``auto`` left out, with why.
    skipped: list[dict[str, str]] = []
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"
    image_size: tuple[int, int]
    #: The dearest route's credits: what the job reserves (only the route that served is captured).
    estimated_credits: int


@dataclass(frozen=True)
class ProviderStatus:
    """A provider as the gateway sees it."""

    configured: bool
    healthy: bool
    simulated: bool | None = None


def provider_status(name: str) -> ProviderStatus:
    """Configured here (key or simulator), and whether its shared circuit is closed."""
    if provider_directory.endpoint(name) is None:
        return ProviderStatus(configured=False, healthy=False)
    health, simulated = provider_health()[name]
    return ProviderStatus(configured=True, healthy=health["state"] != "open", simulated=simulated)


def plan_routes(
    *,
    path: Path,
    what: str,
    provider: Route | None,
    local: Route | None,
    provider_refusal: ImageStudioError | None,
    local_refusal: ImageStudioError | None,
    allowed: Collection[str],
    status: Callable[[str], ProviderStatus] = provider_status,
) -> tuple[list[Route], list[dict[str, str]]]:
    """The routes to try, in order, and why any was left out; raises when none can serve.

    ``auto`` takes the provider when it is configured, allowed by the tier, healthy and the inputs
    are within its limits, with the local path (when the operation has one and the inputs suit
    it) as the fallback; when the provider is skipped the local path serves alone. A simulated
    provider (no key: try-out mode) is skipped when the local path can serve: its result is a
    placeholder that would cost credits, the local path's is real.
    """
    if path == "local":
        if local is None:
            raise ValidationFailed("path", f"{what} has no local path; use path=provider or auto")
        if local_refusal is not None:
            raise local_refusal
        return [local], []
    if path == "provider":
        if provider is None:
            raise ValidationFailed("path", f"{what} has no provider path; use path=local or auto")
        if not status(provider.provider).configured:
            raise ValidationFailed("path", _not_configured(provider.provider))
        if provider_refusal is not None:
            raise provider_refusal
        return [provider], []  # a tier without this provider is refused (403) at submission

    routes: list[Route] = []
    skipped: list[dict[str, str]] = []
    local_ok = local is not None and local_refusal is None
    if provider is not None:
        state = status(provider.provider)
        reason = unavailable(state, provider.provider, allowed) or _passed_over(
            state, provider_refusal, local_ok=local_ok
        )
        if reason is None:
            routes.append(provider)
        else:
            skipped.append({"provider": provider.provider, "model": provider.model, "reason": reason})
    if local is not None and local_refusal is None:
        routes.append(local)
    if routes:
        return routes, skipped
    if provider is not None and status(provider.provider).configured:
        if provider_refusal is not None:
            raise provider_refusal
        return [provider], skipped  # not in the tier: submission answers the tier's 403
    if local is not None and local_refusal is not None:
        raise local_refusal
    if provider is None:
        raise ValidationFailed("path", f"{what} has no path available here")
    raise ValidationFailed(
        "path", f"{what} needs {_not_configured(provider.provider)}, and it has no local path"
    )


#: Why a configured provider is not tried for a tenant: its tier does not include it (a 403 at submission).
NOT_IN_TIER = "not included in the tenant's tier"


def unavailable(state: ProviderStatus, provider: str, allowed: Collection[str]) -> str | None:
    """Why ``provider`` cannot serve a tenant whose tier allows ``allowed`` (not configured, not in the tier), or None."""
    if not state.configured:
        return "not configured"
    if provider not in allowed:
        return NOT_IN_TIER
    return None


def _passed_over(state: ProviderStatus, refusal: ImageStudioError | None, *, local_ok: bool) -> str | None:
    """Why ``auto`` leaves an available provider out: its limits refuse the inputs, or the local path serves better."""
    if refusal is not None:
        return refusal.detail
    if not local_ok:
        return None
    if not state.healthy:
        return "circuit open (the provider has been failing)"
    if state.simulated:
        return "simulated (a placeholder result); the local path gives a real one"
    return None


def _not_configured(provider: str) -> str:
    return f"{provider} is not configured here (set IMAGESTUDIO_{provider.upper()}_API_KEY)"


def credits_of(routes: Sequence[Route]) -> int:
    """Credits held for a job: the dearest route it may take (only what it used is captured)."""
    return max((route.credits for route in routes), default=0)


def estimate_routes(studio: str, what: str, routes: Sequence[Route]) -> Estimate:
    """``POST /estimate-cost`` for planned routes: the first one's credits, held at the dearest."""
    first, held = routes[0], credits_of(routes)
    note = f"; held at {held}, the dearest fallback, and charged only for the route that serves"
    return first_choice(
        studio,
        item=f"{what} via {first.provider}{note if held > first.credits else ''}",
        provider=first.provider,
        model=first.model,
        unit_credits=first.credits,
        max_credits=held,
    )


def whole_credits(value: float) -> int:
    return math.ceil(value)
