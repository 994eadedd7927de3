"""The image providers: what each model can do and costs, whether it is reachable, and its health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from gateway.deps import PrincipalDep, ReadSessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.credits.tier_service import tier_service
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.health import provider_health
from imagestudio.providers.registry import PROVIDER_LABELS, PROVIDERS, QUALITY_TABLE, models_for
from imagestudio.providers.schemas import ModelInfo

router = APIRouter(
    route_class=GuardedRoute, prefix="/providers", tags=["providers"], responses=PROBLEM_RESPONSES
)


def _model_body(info: ModelInfo) -> dict[str, Any]:
    return {
        "model": info.model,
        "label": info.label,
        "kind": info.kind,
        "quality": info.quality,
        "credits_per_image": info.credits_per_image,
        "max_images_per_call": info.max_images_per_call,
        "aspect_ratios": list(info.aspect_ratios) if info.megapixels is not None else [],
        "any_aspect_up_to_side": info.max_side if info.megapixels is None else None,
        "megapixels": info.megapixels,
        "style_presets": list(info.style_presets),
        "image_to_image": info.image_to_image,
        "text_to_image": info.text_to_image if info.kind == "generate" else False,
        "image_strength": info.image_strength,
        "asynchronous": info.asynchronous,
        "capabilities": list(info.capabilities),
        # What the vendor answers in (other formats are converted after download) and its ranges.
        "output_formats": list(info.output_formats),
        "steps_range": list(info.steps_range) if info.steps_range else None,
        "guidance_range": list(info.guidance_range) if info.guidance_range else None,
        "deprecated_on": info.deprecated_on.isoformat() if info.deprecated_on else None,
        "shutdown_on": info.shutdown_on.isoformat() if info.shutdown_on else None,
    }


def _quality_table() -> dict[str, dict[str, Any]]:
    """What each quality level asks each provider for (model, steps, guidance)."""
    return {
        quality: {provider: vars(choice) for provider, choice in row.items()}
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
            "models": [_model_body(info) for info in models_for("stability") if info.kind == "generate"],
        }
    ],
    "quality_table": _quality_table(),
}


@router.get("", responses=example_response(_EXAMPLE))
def list_providers(
    session: ReadSessionDep,
    principal: PrincipalDep,
    kind: Annotated[
        Literal["generate", "edit", "upscale", "control"] | None, Query(description="Only these models")
    ] = None,
) -> dict[str, Any]:
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
            {
                "name": name,
                "label": PROVIDER_LABELS[name],
                "status": "simulated" if simulated else "configured" if configured else "not_configured",
                "configured": configured,
                "simulated": simulated,
                "available": endpoint is not None,
                "allowed_for_tenant": name in allowed,
                "health": {
                    **state,
                    "opened_at": datetime.fromtimestamp(opened_at, UTC).isoformat() if opened_at else None,
                },
                "models": [
                    _model_body(info) for info in models_for(name) if kind is None or info.kind == kind
                ],
            }
        )
    return {"providers": providers, "quality_table": _quality_table()}
