"""Choosing providers for a create request: aspect fit and the ordered candidates (``plan``).

Auto selection ranks the models that can make the requested aspect (within ``MAX_CROP``) by:
circuit health (open circuits last), distance from the asked quality level, the template's
suggested providers, then credits per image (cheapest first), then the quality table's order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from imagestudio.errors import ValidationFailed
from imagestudio.providers.registry import (
    CATALOGUE,
    PROVIDERS,
    QUALITY_MODELS,
    QUALITY_TABLE,
    QualityChoice,
    catalogue_today,
    offered,
)
from imagestudio.providers.resilience import CircuitHealth, CircuitState
from imagestudio.providers.schemas import ModelInfo, Quality

__all__ = ["MAX_CROP", "Candidate", "fit", "parse_ratio", "plan"]

#: Largest share of the image a model's nearest aspect may lose when cropped to the asked one.
MAX_CROP = 0.15
#: Smallest side the size-based models are asked for (their clients clamp to it).
_MIN_SIDE = 256
_QUALITY_RANK: dict[str, int] = {"draft": 0, "standard": 1, "premium": 2}


# --- aspect fit ------------------------------------------------------------------------------


def parse_ratio(value: str, *, field: str = "aspect_ratio") -> float:
    """``W:H`` (integers or decimals, e.g. ``1.91:1``) as a float between 1:8 and 8:1."""
    width, sep, height = value.partition(":")
    try:
        ratio = float(width) / float(height) if sep else math.nan
    except (ValueError, ZeroDivisionError):
        ratio = math.nan
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValidationFailed(field, f"{value!r} is not a ratio like 16:9 or 1.91:1")
    if not 1 / 8 <= ratio <= 8:
        raise ValidationFailed(field, f"{value} is outside the supported range 1:8 to 8:1")
    return ratio


def _ratio_of(label: str) -> float:
    width, _, height = label.partition(":")
    return float(width) / float(height)


def _crop(asked: float, got: float) -> float:
    return 1 - min(asked, got) / max(asked, got)


def fit(info: ModelInfo, ratio: float) -> tuple[str | None, float]:
    """The provider aspect to ask for (``None``: ask for the size) and the share the crop will lose."""
    if info.megapixels is None and info.max_side:
        # Size-based models take any shape inside [min side, max side].
        bounded = min(max(ratio, _MIN_SIDE / info.max_side), info.max_side / _MIN_SIDE)
        return None, _crop(ratio, bounded)
    best = min(info.aspect_ratios, key=lambda label: abs(math.log(_ratio_of(label) / ratio)))
    return best, _crop(ratio, _ratio_of(best))


# --- candidates ------------------------------------------------------------------------------


class Candidate(BaseModel):
    """One provider model a job may call, with the parameters the quality level gives it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    quality: Quality
    credits_per_image: float
    max_images_per_call: int
    #: The aspect ratio to ask for, or ``None`` to ask for an exact size (or no shape: ``keep_shape``).
    provider_aspect_ratio: str | None
    crop: float
    native_style: bool
    steps: int | None = None
    guidance_scale: float | None = None
    asynchronous: bool = False
    #: Image-to-image with no size asked, on a model that answers in the init image's shape: ask for none.
    keep_shape: bool = False

    @property
    def credits(self) -> int:
        """Whole credits charged per image (fractional prices round up)."""
        return math.ceil(self.credits_per_image)


def _candidate(
    info: ModelInfo, ratio: float, choice: QualityChoice | None, *, init_shape: bool = False
) -> Candidate | None:
    """``info`` as a candidate, or ``None`` when it cannot make ``ratio`` without cropping too much.

    ``init_shape``: the ratio is the init image's own (nothing asked); a model that answers in
    its input's shape then needs no aspect at all, however wide or tall the image.
    """
    keep_shape = init_shape and info.keeps_init_shape
    provider_aspect, crop = (None, 0.0) if keep_shape else fit(info, ratio)
    if crop > MAX_CROP:
        return None
    return Candidate(
        provider=info.provider,
        model=info.model,
        quality=info.quality or "standard",
        credits_per_image=info.credits_per_image,
        max_images_per_call=info.max_images_per_call,
        provider_aspect_ratio=provider_aspect,
        crop=round(crop, 4),
        native_style=bool(info.style_presets),
        steps=choice.steps if choice else None,
        guidance_scale=choice.guidance_scale if choice else None,
        asynchronous=info.asynchronous,
        keep_shape=keep_shape,
    )


def _serves(info: ModelInfo, *, image_to_image: bool) -> bool:
    return info.image_to_image if image_to_image else info.text_to_image


def _generate_models(
    provider: str, *, image_to_image: bool = False, today: date | None = None
) -> list[ModelInfo]:
    """The provider's generate models offered ``today`` (none past its shutdown) that serve the request's kind."""
    return [
        info
        for info in offered(today=today)
        if info.provider == provider
        and info.kind == "generate"
        and _serves(info, image_to_image=image_to_image)
    ]


def _best_for_provider(
    provider: str,
    quality: Quality,
    ratio: float,
    *,
    image_to_image: bool = False,
    init_shape: bool = False,
    gone: Collection[tuple[str, str]] = (),
    today: date | None = None,
) -> Candidate | None:
    """The provider's table model for ``quality``, else its nearest-quality model that fits the aspect;
    never a model in ``gone`` (the vendor answered that it no longer serves it)."""
    table = QUALITY_TABLE[quality][provider]
    ordered = sorted(
        (
            info
            for info in _generate_models(provider, image_to_image=image_to_image, today=today)
            if (provider, info.model) not in gone
        ),
        key=lambda info: (
            info.model != table.model,
            abs(_QUALITY_RANK[info.quality or "standard"] - _QUALITY_RANK[quality]),
            info.credits_per_image,
        ),
    )
    for info in ordered:
        choice = _choice_for(provider, info.model, quality)
        candidate = _candidate(info, ratio, choice, init_shape=init_shape)
        if candidate is not None:
            return candidate
    return None


def _choice_for(provider: str, model: str, quality: Quality) -> QualityChoice | None:
    """The table's parameters for ``model``: from the asked level when it lists it, else any level."""
    levels: list[Quality] = [quality, *(level for level in QUALITY_TABLE if level != quality)]
    for level in levels:
        choice = QUALITY_TABLE[level][provider]
        if choice.model == model:
            return choice
    return None


def _aspect_refusal(provider: str, models: Sequence[ModelInfo], ratio: float) -> ValidationFailed:
    shapes = sorted({label for info in models for label in info.aspect_ratios if info.megapixels is not None})
    sized = [info for info in models if info.megapixels is None and info.max_side]
    offer = ", ".join(shapes) if shapes else ""
    if sized:
        limit = max(info.max_side or 0 for info in sized) / _MIN_SIDE
        offer = (offer + "; " if offer else "") + f"any shape up to {limit:g}:1"
    return ValidationFailed(
        "aspect_ratio",
        f"{provider} cannot produce {ratio:.2f}:1 without cropping more than {MAX_CROP:.0%}"
        f" (it offers {offer}); choose another aspect or provider",
    )


def plan(
    *,
    quality: Quality,
    ratio: float,
    provider: str = "auto",
    model: str | None = None,
    suggested: Sequence[str] = (),
    allowed: Collection[str] = PROVIDERS,
    available: Sequence[str] = PROVIDERS,
    health: Mapping[str, CircuitHealth] | None = None,
    image_to_image: bool = False,
    init_shape: bool = False,
    gone: Collection[tuple[str, str]] = (),
    today: date | None = None,
) -> list[Candidate]:
    """The providers to try for a request, in order; an explicit provider or model gives one candidate.

    ``gone`` holds ``(provider, model)`` pairs provider health marked as no longer served: never
    planned (an explicit ``model`` among them is refused naming the field). Nor is a model past its
    shutdown date on ``today`` (default: now; the catalogue's lifecycle).

    ``image_to_image`` keeps only models that take an init image (auto drops the others; an explicit
    provider or model that cannot is refused naming the field); ``init_shape`` says ``ratio`` is the init
    image's own, which models that answer in their input's shape keep without an aspect check. Raises ``ValidationFailed`` naming
    ``provider``, ``model`` or ``aspect_ratio`` when the request cannot be served, so the gateway
    refuses it before anything is queued.
    """
    today = today or catalogue_today()

    def best_for(name: str) -> Candidate | None:
        return _best_for_provider(
            name, quality, ratio, image_to_image=image_to_image, init_shape=init_shape, gone=gone, today=today
        )

    if model is not None:
        owners = [info for info in CATALOGUE if info.model == model and info.kind == "generate"]
        if provider != "auto":
            owners = [info for info in owners if info.provider == provider]
        if not owners:
            known = ", ".join(
                info.model
                for info in offered(today=today)
                if info.kind == "generate" and provider in ("auto", info.provider)
            )
            raise ValidationFailed(
                "model",
                f"unknown model {model!r}{'' if provider == 'auto' else f' for {provider}'}; choose from {known}",
            )
        info = owners[0]
        if not info.served_on(today):
            current = ", ".join(i.model for i in _generate_models(info.provider, today=today))
            raise ValidationFailed(
                "model",
                f"{info.provider} shut {info.model} down on {info.shutdown_on}; choose a current model"
                f" ({current})",
            )
        if (info.provider, info.model) in gone:
            raise ValidationFailed(
                "model",
                f"{info.provider} no longer serves {info.model} (it answered not found or gone); choose another",
            )
        if image_to_image and not info.image_to_image:
            raise ValidationFailed(
                "model",
                f"{info.provider} {info.model} takes no init_image; image-to-image models: {_i2i_models(today)}",
            )
        if not image_to_image and not info.text_to_image:
            raise ValidationFailed(
                "model", f"{info.provider} {info.model} is image-to-image only here: give an init_image"
            )
        _require_available(info.provider, available, field="model" if provider == "auto" else "provider")
        choice = _choice_for(info.provider, info.model, quality)
        candidate = _candidate(info, ratio, choice, init_shape=init_shape)
        if candidate is None:
            raise _aspect_refusal(f"{info.provider} {info.model}", [info], ratio)
        return [candidate]
    if provider != "auto":
        if provider not in PROVIDERS:
            raise ValidationFailed(
                "provider", f"unknown provider {provider!r}; choose auto or {', '.join(PROVIDERS)}"
            )
        _require_available(provider, available, field="provider")
        if image_to_image and not _generate_models(provider, image_to_image=True, today=today):
            raise ValidationFailed(
                "provider", f"{provider} offers no image-to-image; models that do: {_i2i_models(today)}"
            )
        candidate = best_for(provider)
        if candidate is None:
            models = _generate_models(provider, image_to_image=image_to_image, today=today)
            raise _aspect_refusal(provider, models, ratio)
        return [candidate]

    usable = [name for name in PROVIDERS if name in allowed and name in available]
    if not usable:
        raise ValidationFailed(
            "provider", "no image provider is available to this tenant (none configured or simulated)"
        )
    if image_to_image:
        usable = [name for name in usable if _generate_models(name, image_to_image=True, today=today)]
        if not usable:
            raise ValidationFailed(
                "init_image",
                f"no provider available to this tenant offers image-to-image (models that do: {_i2i_models(today)})",
            )
    found = [candidate for name in usable if (candidate := best_for(name)) is not None]
    if not found:
        raise ValidationFailed(
            "aspect_ratio",
            f"no available provider can produce {ratio:.2f}:1 without cropping more than {MAX_CROP:.0%}",
        )
    preference = {key: index for index, key in enumerate(QUALITY_MODELS[quality])}
    health = health or {}

    def rank(candidate: Candidate) -> tuple[Any, ...]:
        state = health.get(candidate.provider)
        bucket = 0
        if state is not None:
            if state["state"] == CircuitState.open.value:
                bucket = 2
            elif state["recent_calls"] >= 3 and state["recent_error_rate"] >= 0.5:
                bucket = 1
        return (
            bucket,
            abs(_QUALITY_RANK[candidate.quality] - _QUALITY_RANK[quality]),
            suggested.index(candidate.provider) if candidate.provider in suggested else len(suggested),
            candidate.credits_per_image,
            preference.get((candidate.provider, candidate.model), len(preference)),
        )

    return sorted(found, key=rank)


def _i2i_models(today: date) -> str:
    return ", ".join(
        f"{info.provider} {info.model}"
        for info in offered(today=today)
        if info.kind == "generate" and info.image_to_image
    )


def _require_available(provider: str, available: Sequence[str], *, field: str) -> None:
    if provider not in available:
        raise ValidationFailed(
            field,
            f"{provider} is not configured here (no IMAGESTUDIO_{provider.upper()}_API_KEY and no simulator)",
        )
