"""Whether each configured model is still served: one cheap call per model (``imagestudio providers check``).

Each vendor client knows its cheapest telling call (:meth:`HttpProvider.check_model`): Gemini's free
``models.get``; elsewhere a POST the vendor refuses before any work (no prompt, no image), whose
validation error says the route is served without a charge, while a 404 or 410 says it is gone.
Every model found gone sets ``imagestudio_provider_model_gone`` (the ``ImageStudioProviderModelGone``
alert) and can be marked in provider health, so plans leave it out at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from imagestudio.config import Settings, get_settings
from imagestudio.providers.directory import Endpoint, LabelTransport, ProviderDirectory, provider_directory
from imagestudio.providers.http import ModelStatus
from imagestudio.providers.registry import PROVIDER_CLASSES, models_for
from imagestudio.telemetry.metrics import PROVIDER_MODEL_GONE

__all__ = ["ModelCheck", "check_endpoints", "check_models"]


@dataclass(frozen=True)
class ModelCheck:
    """What the vendor answered about one model."""

    provider: str
    model: str
    status: ModelStatus
    detail: str
    #: The endpoint is a labelled local simulator, not the vendor.
    simulated: bool


def check_endpoints(
    endpoints: Iterable[Endpoint], *, timeout: float, today: date | None = None
) -> list[ModelCheck]:
    """Check every offered model of each endpoint's provider, one call each, in catalogue order."""
    results: list[ModelCheck] = []
    for endpoint in endpoints:
        client = PROVIDER_CLASSES[endpoint.provider](
            api_key=endpoint.api_key.get_secret_value(),
            base_url=endpoint.base_url,
            timeout=timeout,
            # An injected transport belongs to its giver: closing this client leaves it open.
            transport=LabelTransport(endpoint.transport, owned=False) if endpoint.transport else None,
        )
        with client:
            for info in models_for(endpoint.provider, today=today):
                status, detail = client.check_model(info.model)
                PROVIDER_MODEL_GONE.labels(endpoint.provider, info.model).set(1 if status == "gone" else 0)
                results.append(ModelCheck(endpoint.provider, info.model, status, detail, endpoint.simulated))
    return results


def check_models(
    *,
    directory: ProviderDirectory | None = None,
    settings: Settings | None = None,
    only: Iterable[str] = (),
    today: date | None = None,
) -> list[ModelCheck]:
    """Check the models of every provider this process can reach (a key, or a simulator it was given)."""
    settings = settings or get_settings()
    wanted = set(only)
    endpoints = [
        endpoint
        for name, endpoint in (directory or provider_directory).available(settings).items()
        if not wanted or name in wanted
    ]
    return check_endpoints(endpoints, timeout=settings.provider_timeout_seconds, today=today)
