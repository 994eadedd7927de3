"""One pricing function per studio: the estimate endpoint and the reserve both call it.

An estimate answers two figures: ``total_credits``, what the planned route charges when it serves
(the figure the job captures), and ``max_credits``, what the job holds while it runs (the dearest
route it may fall back to). Pricers plan with the same function, tier and provider health as the
submission, so the two agree whenever the planned route serves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from imagestudio.errors import ValidationFailed


class EstimateItem(BaseModel):
    item: str
    provider: str | None = None
    model: str | None = None
    quality: str | None = None
    unit_credits: int
    count: int
    credits: int


class Estimate(BaseModel):
    studio: str
    total_credits: int = Field(description="Credits charged when the planned route serves")
    max_credits: int = Field(
        description="Credits held while the job runs: the dearest fallback; only what serves is charged"
    )
    currency: str = "credits"
    breakdown: list[EstimateItem] = Field(default_factory=list)


#: A studio's pricer: the request's params and the providers the tenant's tier allows.
Pricer = Callable[[dict[str, Any], Collection[str]], Estimate]

_PRICERS: dict[str, Pricer] = {}


def register(studio: str) -> Callable[[Pricer], Pricer]:
    def decorator(fn: Pricer) -> Pricer:
        _PRICERS[studio] = fn
        return fn

    return decorator


def estimate(studio: str, params: dict[str, Any], *, allowed: Collection[str]) -> Estimate:
    """Price ``params`` as ``studio``'s route would plan them for a tier allowing ``allowed``; 422 names the bad field."""
    _load()
    pricer = _PRICERS.get(studio)
    if pricer is None:
        raise ValidationFailed(
            "studio", f"unknown studio {studio!r}; choose from {', '.join(sorted(_PRICERS))}"
        )
    try:
        return pricer(params, allowed)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise ValidationFailed(f"params.{field}", first.get("msg", "invalid")) from exc
    except ValidationFailed as exc:
        if exc.field.startswith("params"):
            raise
        # Pricers refuse in the route's own terms; here the field sits under ``params``.
        message = exc.detail.removeprefix(f"{exc.field}: ")
        raise ValidationFailed(f"params.{exc.field}", message) from exc


def _load() -> None:
    """Import every studio module so each registers its pricer (studios import this module, not the reverse)."""
    import importlib

    for name in ("social", "create", "edit", "upscale", "control", "compress", "convert"):
        try:
            importlib.import_module(f"imagestudio.studios.{name}")
        except ModuleNotFoundError:
            continue  # a studio not built yet
