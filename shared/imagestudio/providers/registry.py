"""The provider catalogue: every model (one table), the quality table, and building configured clients.

Credit figures are **our** credits per output image (1 credit = USD 0.01), taken from the
providers' published prices where we have them (Stability's own credit table; WaveSpeed and
Imagen prices converted); they are what Image Studio charges, not what a provider bills.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from imagestudio.providers.gemini import GEMINI_IMAGE_ASPECT_RATIOS, GeminiClient
from imagestudio.providers.huggingface import HF_MODELS, HuggingFaceClient, HuggingFaceRoute
from imagestudio.providers.protocols import ImageProvider
from imagestudio.providers.schemas import ModelInfo, Quality
from imagestudio.providers.sizing import SIZE_RATIOS
from imagestudio.providers.stability import STABILITY_ASPECT_RATIOS, STYLE_PRESETS, StabilityClient
from imagestudio.providers.wavespeed import WAVESPEED_MODELS, WaveSpeedClient, WaveSpeedModel

__all__ = [
    "CATALOGUE",
    "PROVIDERS",
    "PROVIDER_CLASSES",
    "PROVIDER_LABELS",
    "QUALITY_MODELS",
    "QUALITY_ROWS",
    "QUALITY_TABLE",
    "QualityChoice",
    "ProviderClient",
    "ProviderConfig",
    "build_providers",
    "candidates",
    "catalogue_today",
    "find_model",
    "get_model",
    "models_for",
    "offered",
]

PROVIDERS: tuple[str, ...] = ("stability", "wavespeed", "huggingface", "gemini")
PROVIDER_LABELS: dict[str, str] = {
    "stability": "Stability AI",
    "wavespeed": "WaveSpeedAI",
    "huggingface": "Hugging Face",
    "gemini": "Google Gemini",
}


@dataclass(frozen=True)
class QualityChoice:
    """What one quality level means on one provider."""

    model: str
    steps: int | None = None
    guidance_scale: float | None = None


#: The one quality table: per level, ``(provider, choice)`` rows in order of preference. A provider's
#: first row is its model for that level; later rows are fallbacks. Rebuilt from what is served
#: (``test_every_quality_row_is_served_today``): Gemini's image models and Stability's ultra/core
#: take no step count; sd3.5 flash/turbo are distilled for cfg 1; FLUX.1 schnell for 4 steps.
QUALITY_ROWS: Mapping[Quality, tuple[tuple[str, QualityChoice], ...]] = {
    "draft": (
        ("huggingface", QualityChoice("black-forest-labs/FLUX.1-schnell", steps=4)),
        ("wavespeed", QualityChoice("qwen-image", steps=20)),
        ("gemini", QualityChoice("gemini-3.1-flash-image")),
        ("stability", QualityChoice("sd3.5-flash", guidance_scale=1.0)),
    ),
    "standard": (
        ("stability", QualityChoice("core")),
        ("gemini", QualityChoice("gemini-3.1-flash-image")),
        ("huggingface", QualityChoice("black-forest-labs/FLUX.1-dev", steps=28, guidance_scale=3.5)),
        ("stability", QualityChoice("sd3.5-medium")),
        ("wavespeed", QualityChoice("qwen-image", steps=30)),
    ),
    "premium": (
        ("stability", QualityChoice("ultra")),
        ("wavespeed", QualityChoice("ideogram-v3-turbo")),
        ("gemini", QualityChoice("gemini-3-pro-image")),
        ("stability", QualityChoice("sd3.5-large")),
        ("huggingface", QualityChoice("black-forest-labs/FLUX.1-dev", steps=50, guidance_scale=3.5)),
    ),
}


def _first_per_provider(rows: tuple[tuple[str, QualityChoice], ...]) -> dict[str, QualityChoice]:
    first: dict[str, QualityChoice] = {}
    for provider, choice in rows:
        first.setdefault(provider, choice)
    return {provider: first[provider] for provider in PROVIDERS if provider in first}


#: View of ``QUALITY_ROWS``: level -> provider -> its model and parameters (the provider's first row).
QUALITY_TABLE: Mapping[Quality, Mapping[str, QualityChoice]] = {
    level: _first_per_provider(rows) for level, rows in QUALITY_ROWS.items()
}


def _row(provider: str, model: str, label: str, quality: Quality, credits: float, **facts: Any) -> ModelInfo:
    """A generating model's row: who serves it, its name and label, its quality level, our credits per image."""
    return ModelInfo(
        provider=provider, model=model, label=label, quality=quality, credits_per_image=credits, **facts
    )


def _stability(
    model: str,
    credits: float,
    quality: Quality,
    label: str,
    megapixels: float,
    *,
    image_to_image: bool = True,
    **extra: Any,
) -> ModelInfo:
    return _row(
        "stability",
        model,
        label,
        quality,
        credits,
        aspect_ratios=STABILITY_ASPECT_RATIOS,
        megapixels=megapixels,
        image_to_image=image_to_image,
        image_strength=image_to_image,
        # sd3's image-to-image takes no aspect_ratio (text-to-image only): it answers in the init image's shape.
        keeps_init_shape=image_to_image and model.startswith("sd3"),
        style_presets=STYLE_PRESETS,
        # sd3's cfg_scale (the others take none).
        guidance_range=(1.0, 10.0) if model.startswith("sd3") else None,
        **extra,
    )


#: Google's deprecations page (the dates of the Gemini API's models), checked 2026-12-07.
GEMINI_LIFECYCLE_SOURCE = "https://ai.google.dev/gemini-api/docs/deprecations"
#: Imagen 4 (generate, fast, ultra) stopped answering on the Gemini API and Vertex AI.
IMAGEN_4_SHUTDOWN = date(2026, 8, 17)


def _gemini(
    model: str,
    label: str,
    quality: Quality,
    credits: float,
    *,
    imagen: bool = False,
    shutdown_on: date | None = None,
) -> ModelInfo:
    return _row(
        "gemini",
        model,
        label,
        quality,
        credits,
        max_images_per_call=4 if imagen else 1,
        aspect_ratios=("1:1", "3:4", "4:3", "9:16", "16:9") if imagen else GEMINI_IMAGE_ASPECT_RATIOS,
        output_formats=("png",),
        megapixels=1.0,
        image_to_image=not imagen,
        keeps_init_shape=not imagen,
        shutdown_on=IMAGEN_4_SHUTDOWN if imagen else shutdown_on,
        lifecycle_source=GEMINI_LIFECYCLE_SOURCE,
    )


def _vendor_row(
    provider: str,
    model: str,
    label: str,
    quality: Quality,
    credits: float,
    spec: WaveSpeedModel | HuggingFaceRoute,
    **extra: Any,
) -> ModelInfo:
    """A row whose shape, formats and ranges come from the client's own model table (one copy of each)."""
    shape: dict[str, Any] = (
        {"aspect_ratios": spec.aspect_ratios}
        if isinstance(spec, WaveSpeedModel) and spec.shape == "aspect_ratio"
        else {"aspect_ratios": SIZE_RATIOS, "max_side": spec.max_side}
    )
    return _row(
        provider,
        model,
        label,
        quality,
        credits,
        asynchronous=provider == "wavespeed",
        output_formats=spec.output_formats,
        steps_range=spec.steps_range,
        guidance_range=spec.guidance_range,
        **shape,
        **extra,
    )


def _wavespeed(model: str, label: str, quality: Quality, credits: float, **extra: Any) -> ModelInfo:
    return _vendor_row("wavespeed", model, label, quality, credits, WAVESPEED_MODELS[model], **extra)


def _huggingface(model: str, label: str, quality: Quality, credits: float) -> ModelInfo:
    return _vendor_row("huggingface", model, label, quality, credits, HF_MODELS[model])


def _stability_tool(
    kind: Literal["edit", "upscale", "control"], operation: str, credits: float, **extra: Any
) -> ModelInfo:
    return ModelInfo(
        provider="stability",
        model=f"{kind}/{operation}",
        kind=kind,
        label=f"Stability {kind} {operation}",
        credits_per_image=credits,
        image_to_image=True,
        edit_operations=(operation,),
        **extra,
    )


#: Every model Image Studio can call (the one pricing table). ``image_to_image`` on a generate row: it takes an init image
#: (Stability's ultra and sd3.5 at their text-to-image price, with a strength; core takes no image; WaveSpeed's
#: FLUX.1 dev with a strength; Gemini's image models without one). A row past its ``shutdown_on`` stays
#: for its lifecycle and old jobs' prices but is never offered (:func:`offered`).
#: Edit/upscale rows follow the reference's Stability table;
#: search-and-replace/recolor and relight have no published figure there, so they are set at the
#: inpaint price (5) and a premium (8) until the price sheet says otherwise.
CATALOGUE: tuple[ModelInfo, ...] = (
    # --- Stability generate ---
    _stability("ultra", 8, "premium", "Stable Image Ultra", 1.0),
    _stability("core", 3, "standard", "Stable Image Core", 1.5, image_to_image=False),
    _stability("sd3.5-large", 6.5, "premium", "SD 3.5 Large", 1.0),
    _stability("sd3.5-large-turbo", 4, "standard", "SD 3.5 Large Turbo", 1.0),
    _stability("sd3.5-medium", 3.5, "standard", "SD 3.5 Medium", 1.0),
    _stability("sd3.5-flash", 2.5, "draft", "SD 3.5 Flash", 1.0),
    # --- Stability edit / upscale ---
    _stability_tool("edit", "erase", 5, megapixels=4.0),
    _stability_tool("edit", "inpaint", 5, megapixels=4.0, style_presets=STYLE_PRESETS),
    _stability_tool("edit", "outpaint", 4, megapixels=4.0, style_presets=STYLE_PRESETS),
    _stability_tool("edit", "search-and-replace", 5, megapixels=4.0, style_presets=STYLE_PRESETS),
    _stability_tool("edit", "search-and-recolor", 5, megapixels=4.0, style_presets=STYLE_PRESETS),
    _stability_tool("edit", "remove-background", 5, megapixels=4.0),
    _stability_tool("edit", "replace-background-and-relight", 8, megapixels=4.0, asynchronous=True),
    _stability_tool("upscale", "fast", 2, megapixels=16.0),
    _stability_tool("upscale", "conservative", 40, megapixels=4.0),
    _stability_tool(
        "upscale", "creative", 60, megapixels=4.0, asynchronous=True, style_presets=STYLE_PRESETS
    ),
    # --- Stability control (its published credits per call; 1 of theirs = USD 0.01 = 1 of ours) ---
    _stability_tool("control", "sketch", 5, megapixels=1.0, style_presets=STYLE_PRESETS),
    _stability_tool("control", "structure", 5, megapixels=1.0, style_presets=STYLE_PRESETS),
    _stability_tool("control", "style", 5, megapixels=1.0, style_presets=STYLE_PRESETS),
    _stability_tool("control", "style-transfer", 8, megapixels=1.0),
    # --- WaveSpeed (shapes, ranges and formats from the client's model table) ---
    _wavespeed("ideogram-v3-turbo", "Ideogram v3 Turbo", "premium", 6, megapixels=1.0),
    _wavespeed("qwen-image", "Qwen Image", "draft", 2),
    # Image-to-image (``image`` + ``strength`` 0-1, ``size`` W*H 256-1536 a side): USD 0.012 per image.
    _wavespeed(
        "flux-dev",
        "FLUX.1 dev (image-to-image)",
        "standard",
        1.2,
        image_to_image=True,
        text_to_image=False,
        image_strength=True,
    ),
    *(
        ModelInfo(
            provider="wavespeed",
            model=model,
            kind="edit",
            label=label,
            credits_per_image=credits,
            max_side=max_side,
            image_to_image=True,
            edit_operations=("general_edit",),
            asynchronous=True,
        )
        for model, label, credits, max_side in (
            ("qwen-edit", "Qwen Image Edit", 2, 1536),
            ("qwen-edit-plus", "Qwen Image Edit Plus", 2, 1536),
            ("nano-banana-pro-edit-ultra", "Nano Banana Pro Edit Ultra", 15, 8192),
            ("seedream-v4.5-edit", "Seedream 4.5 Edit", 4, 4096),
            ("flux-kontext-pro", "FLUX Kontext Pro", 4, 2048),
        )
    ),
    # --- Hugging Face (through the router; ranges from the client's route table) ---
    _huggingface("black-forest-labs/FLUX.1-schnell", "FLUX.1 schnell", "draft", 1),
    _huggingface("black-forest-labs/FLUX.1-dev", "FLUX.1 dev", "standard", 3),
    # --- Gemini: image models through ``:generateContent`` (text-to-image and image-to-image) ---
    # No strength in the API; without an aspect the answer keeps the init image's shape. Prices at 1K
    # output (1,120 image tokens): USD 60 / 120 per million image tokens for Flash / Pro.
    _gemini("gemini-3.1-flash-image", "Gemini 3.1 Flash Image", "standard", 6.7),
    _gemini("gemini-3-pro-image", "Gemini 3 Pro Image", "premium", 13.4),
    # Past their shutdown: kept for their lifecycle (and old jobs' prices), never offered.
    _gemini(
        "gemini-2.5-flash-image", "Gemini 2.5 Flash Image", "standard", 3.9, shutdown_on=date(2026, 10, 2)
    ),
    _gemini("imagen-4.0-fast-generate-001", "Imagen 4 Fast", "draft", 2, imagen=True),
    _gemini("imagen-4.0-generate-001", "Imagen 4", "standard", 4, imagen=True),
    _gemini("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", "premium", 6, imagen=True),
)

_BY_KEY: dict[tuple[str, str], ModelInfo] = {(info.provider, info.model): info for info in CATALOGUE}

#: View of ``QUALITY_ROWS``: level -> ``(provider, model)`` in order of preference; later ones are fallbacks.
QUALITY_MODELS: Mapping[Quality, tuple[tuple[str, str], ...]] = {
    level: tuple((provider, choice.model) for provider, choice in rows)
    for level, rows in QUALITY_ROWS.items()
}

#: Any vendor client; each states its capabilities by the protocols it meets (``providers.protocols``).
ProviderClient = StabilityClient | WaveSpeedClient | HuggingFaceClient | GeminiClient

#: Provider name -> client class; every class takes ``api_key``, ``base_url``, ``timeout``, ``transport``.
PROVIDER_CLASSES: Mapping[str, type[ProviderClient]] = {
    "stability": StabilityClient,
    "wavespeed": WaveSpeedClient,
    "huggingface": HuggingFaceClient,
    "gemini": GeminiClient,
}


def find_model(provider: str, model: str) -> ModelInfo | None:
    """The catalogue entry for ``provider``/``model``, or ``None``."""
    return _BY_KEY.get((provider, model))


def get_model(provider: str, model: str) -> ModelInfo:
    """The catalogue entry for ``provider``/``model``; ``KeyError`` when we do not offer it."""
    info = find_model(provider, model)
    if info is None:
        raise KeyError(f"no model {model!r} for provider {provider!r}")
    return info


def catalogue_today() -> date:
    """Today in UTC: the day lifecycles are judged by (tests pass their own ``today``)."""
    return datetime.now(UTC).date()


def offered(*, today: date | None = None) -> tuple[ModelInfo, ...]:
    """Every catalogue entry still served on ``today`` (default: now): what is offered, planned and listed."""
    day = today or catalogue_today()
    return tuple(info for info in CATALOGUE if info.served_on(day))


def models_for(provider: str, *, today: date | None = None) -> tuple[ModelInfo, ...]:
    """Every offered catalogue entry of one provider (models past their shutdown left out)."""
    return tuple(info for info in offered(today=today) if info.provider == provider)


def candidates(
    quality: Quality, *, configured: Collection[str] | None = None, today: date | None = None
) -> list[ModelInfo]:
    """The offered models for a quality level in preference order, keeping only ``configured`` providers."""
    day = today or catalogue_today()
    return [
        info
        for provider, model in QUALITY_MODELS[quality]
        if (configured is None or provider in configured)
        and (info := _BY_KEY[(provider, model)]).served_on(day)
    ]


class ProviderConfig(BaseModel):
    """How to reach one provider; ``configured`` means an API key is present."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key: SecretStr = SecretStr("")
    base_url: str | None = None
    timeout: float = 60.0

    @property
    def configured(self) -> bool:
        return bool(self.api_key.get_secret_value().strip())


def build_providers(
    config: Mapping[str, ProviderConfig | Mapping[str, Any]],
    *,
    transport: httpx.BaseTransport | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, ImageProvider]:
    """Clients for every configured provider in ``config`` (provider name -> api_key, base_url, timeout).

    Providers without an API key are left out; unknown provider names raise ``KeyError``.
    """
    wanted = set(only) if only is not None else None
    providers: dict[str, ImageProvider] = {}
    for name, raw in config.items():
        if name not in PROVIDER_CLASSES:
            raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_CLASSES)}")
        if wanted is not None and name not in wanted:
            continue
        settings = raw if isinstance(raw, ProviderConfig) else ProviderConfig.model_validate(raw)
        if not settings.configured:
            continue
        options: dict[str, Any] = {
            "api_key": settings.api_key.get_secret_value(),
            "timeout": settings.timeout,
        }
        if settings.base_url:
            options["base_url"] = settings.base_url
        providers[name] = PROVIDER_CLASSES[name](transport=transport, **options)
    return providers
