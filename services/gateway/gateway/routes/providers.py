"""The image providers: what each model can do and costs, whether it is reachable, and its health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import PrincipalDep, ReadSessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.credits.tier_service import tier_service
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.health import provider_health
from imagestudio.providers.registry import PROVIDER_LABELS, PROVIDERS, QUALITY_TABLE, models_for
from imagestudio.providers.schemas import ModelInfo, Quality

router = APIRouter(
    route_class=GuardedRoute, prefix="/providers", tags=["providers"], responses=PROBLEM_RESPONSES
)

ModelKind = Literal["generate", "edit", "upscale", "control"]


class _Read(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderModelRead(_Read):
    """One model: what it can do and what one image costs."""

    model: str
    label: str
    kind: ModelKind
    quality: Quality | None
    credits_per_image: float
    max_images_per_call: int
    aspect_ratios: list[str] = Field(description="The shapes it makes (empty: any, up to the side below)")
    any_aspect_up_to_side: int | None
    megapixels: float | None
    style_presets: list[str]
    image_to_image: bool
    text_to_image: bool
    image_strength: bool
    asynchronous: bool
    capabilities: list[str] = Field(
        description="What it does: text_to_image, image_to_image, edit, upscale, control"
    )
    output_formats: list[str] = Field(
        description="What the vendor answers in; other formats are converted after download"
    )
    steps_range: list[int] | None = Field(description="The vendor's steps range, where it takes steps")
    guidance_range: list[float] | None = Field(
        description="The vendor's guidance range, where it takes guidance"
    )
    deprecated_on: str | None = Field(description="ISO date the vendor deprecated it, where published")
    shutdown_on: str | None = Field(description="ISO date the vendor shuts it down; never offered after it")


class CircuitHealthRead(_Read):
    """The provider's shared circuit breaker."""

    state: Literal["closed", "open", "half_open"]
    recent_error_rate: float
    opened_at: str | None = Field(description="ISO 8601, while the circuit is open")
    consecutive_failures: int
    recent_calls: int


class ProviderRead(_Read):
    name: str
    label: str
    status: Literal["simulated", "configured", "not_configured"]
    configured: bool
    simulated: bool = Field(description="Requests go to a labelled local simulator, never the real service")
    available: bool
    allowed_for_tenant: bool
    health: CircuitHealthRead
    models: list[ProviderModelRead]


class QualityChoiceRead(_Read):
    """What a quality level asks one provider for."""

    model: str
    steps: int | None
    guidance_scale: float | None


class ProviderList(_Read):
    """``GET /providers``: every provider, and what each quality level asks each one for."""

    providers: list[ProviderRead]
    quality_table: dict[Quality, dict[str, QualityChoiceRead]]


def _model_body(info: ModelInfo) -> ProviderModelRead:
    return ProviderModelRead(
        model=info.model,
        label=info.label,
        kind=info.kind,
        quality=info.quality,
        credits_per_image=info.credits_per_image,
        max_images_per_call=info.max_images_per_call,
        aspect_ratios=list(info.aspect_ratios) if info.megapixels is not None else [],
        any_aspect_up_to_side=info.max_side if info.megapixels is None else None,
        megapixels=info.megapixels,
        style_presets=list(info.style_presets),
        image_to_image=info.image_to_image,
        text_to_image=info.text_to_image if info.kind == "generate" else False,
        image_strength=info.image_strength,
        asynchronous=info.asynchronous,
        capabilities=list(info.capabilities),
        output_formats=list(info.output_formats),
        steps_range=list(info.steps_range) if info.steps_range else None,
        guidance_range=list(info.guidance_range) if info.guidance_range else None,
        deprecated_on=info.deprecated_on.isoformat() if info.deprecated_on else None,
        shutdown_on=info.shutdown_on.isoformat() if info.shutdown_on else None,
    )


def _quality_table() -> dict[Quality, dict[str, QualityChoiceRead]]:
    """What each quality level asks each provider for (model, steps, guidance)."""
    return {
        quality: {
            provider: QualityChoiceRead.model_validate(vars(choice)) for provider, choice in row.items()
        }
        for quality, row in QUALITY_TABLE.items()
    }


#: A reachable provider with its real models, as the route lists it (the OpenAPI document's example).
_EXAMPLE = {
    "providers": [
        {
            "name": "stability",
            "label": PROVIDER_LABELS["stability"],
            "status": "configured",
            "configured": True,
            "simulated": False,
            "available": True,
            "allowed_for_tenant": True,
            "health": {
                "state": "closed",
                "recent_error_rate": 0.0,
                "opened_at": None,
                "consecutive_failures": 0,
                "recent_calls": 12,
            },
            "models": [
                _model_body(info).model_dump() for info in models_for("stability") if info.kind == "generate"
            ],
        }
    ],
    "quality_table": {
        level: {p: c.model_dump() for p, c in row.items()} for level, row in _quality_table().items()
    },
}


@router.get("", responses=example_response(_EXAMPLE))
def list_providers(
    session: ReadSessionDep,
    principal: PrincipalDep,
    kind: Annotated[ModelKind | None, Query(description="Only these models")] = None,
) -> ProviderList:
    """Every provider: models (capabilities, credits per image), configured or simulated, and health.

    Only models the vendor still serves are listed (none past its published shutdown date).

    ``simulated`` means requests go to a labelled local simulator (synthetic images), never the
    real service; ``health`` is shared by every process (recent error rate, circuit state).
    """
    allowed = tier_service.tier_of(session, tenant_id=principal.tenant_id).providers
    session.rollback()
    health = provider_health()
    providers = []
    for name in PROVIDERS:
        endpoint = provider_directory.endpoint(name)
        state, observed_simulated = health[name]
        simulated = endpoint is not None and (endpoint.simulated or observed_simulated is True)
        configured = endpoint is not None and not endpoint.simulated
        opened_at = state["opened_at"]
        providers.append(
            ProviderRead(
                name=name,
                label=PROVIDER_LABELS[name],
                status="simulated" if simulated else "configured" if configured else "not_configured",
                configured=configured,
                simulated=simulated,
                available=endpoint is not None,
                allowed_for_tenant=name in allowed,
                health=CircuitHealthRead.model_validate(
                    {
                        **state,
                        "opened_at": datetime.fromtimestamp(opened_at, UTC).isoformat()
                        if opened_at
                        else None,
                    }
                ),
                models=[_model_body(info) for info in models_for(name) if kind is None or info.kind == kind],
            )
        )
    return ProviderList(providers=providers, quality_table=_quality_table())
