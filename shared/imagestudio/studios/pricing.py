"""One pricing function per studio: the estimate endpoint and the reserve both call it."""

from __future__ import annotations

from collections.abc import Callable
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
    total_credits: int
    currency: str = "credits"
    breakdown: list[EstimateItem] = Field(default_factory=list)


Pricer = Callable[[dict[str, Any]], Estimate]

_PRICERS: dict[str, Pricer] = {}


def register(studio: str) -> Callable[[Pricer], Pricer]:
    def decorator(fn: Pricer) -> Pricer:
        _PRICERS[studio] = fn
        return fn

    return decorator


def estimate(studio: str, params: dict[str, Any]) -> Estimate:
    """Price ``params`` as ``studio``'s route would accept them; 422 names the bad field."""
    _load()
    pricer = _PRICERS.get(studio)
    if pricer is None:
        raise ValidationFailed(
            "studio", f"unknown studio {studio!r}; choose from {', '.join(sorted(_PRICERS))}"
        )
    try:
        return pricer(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise ValidationFailed(f"params.{field}", first.get("msg", "invalid")) from exc


def _load() -> None:
    """Import every studio module so each registers its pricer (studios import this module, not the reverse)."""
    import importlib

    for name in ("social", "create", "edit", "upscale"):
        try:
            importlib.import_module(f"imagestudio.studios.{name}")
        except ModuleNotFoundError:
            continue  # a studio not built yet
