"""Every studio by name: the one list the workers, the deployment, the batch route and estimates read.

A name is a studio, or a second route of one (``convert``, whose jobs are ``compress`` jobs). Adding a
studio is one folder under ``studios/`` plus its name here (the import line and one :data:`STUDIOS`
entry); then ``imagestudio deploy render`` writes what follows from it (the studio names, the polling
and free-tier lists in :mod:`imagestudio.messaging`, the leaf the lower layers read; the worker
package; the compose service; the Kubernetes manifests; the console's list) and ``--check`` fails
while a committed copy differs. The gateway builds each route's ``POST`` and catalogue ``GET``s from
here when it starts (``docs/architecture.md``, "Adding a studio").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from imagestudio.errors import ValidationFailed
from imagestudio.studios import compress, control, create, edit, social, upscale
from imagestudio.studios.common.base import Studio
from imagestudio.studios.common.deployment import DEFAULT_WORKER, WorkerDeployment
from imagestudio.studios.common.http_routes import CatalogueRoute
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.compress import convert

#: Each studio module, checked by mypy to have the shape :class:`~imagestudio.studios.common.base.Studio` names.
STUDIOS: dict[str, Studio[Any]] = {
    "create": create,
    "edit": edit,
    "upscale": upscale,
    "social": social,
    "control": control,
    "compress": compress,
    # A route of the compress studio with its own request: its jobs are compress jobs.
    "convert": convert,
}

#: Routes no list above names (the batch route and estimates do not take them) whose jobs a worker runs.
_WORKER_ONLY_ROUTES: tuple[Studio[Any], ...] = (social.plan_studio,)


def studio_names() -> list[str]:
    """The studios (each a queue, a worker and a deployment), in :data:`STUDIOS`'s order; no second routes."""
    return [name for name, studio in STUDIOS.items() if studio.name == name]


def routes_of(studio: str) -> tuple[Studio[Any], ...]:
    """Every route whose jobs ``studio``'s worker runs: the studio itself first, then its other routes."""
    face = STUDIOS[studio]
    others = [r for r in (*STUDIOS.values(), *_WORKER_ONLY_ROUTES) if r.name == studio and r is not face]
    return (face, *others)


def catalogues_of(studio: str) -> tuple[CatalogueRoute, ...]:
    """The catalogue ``GET``s of ``studio``'s routes (each route's ``CATALOGUES``, in :func:`routes_of`'s order)."""
    return tuple(c for route in routes_of(studio) for c in getattr(route, "CATALOGUES", ()))


def polls(studio: str) -> bool:
    """Whether ``studio`` finishes asynchronous provider work with a ``<studio>.poll`` chain (its face has ``poll``)."""
    return callable(getattr(STUDIOS[studio], "poll", None))


def free(studio: str) -> bool:
    """Whether the free tier may use ``studio`` (its face sets ``FREE_TIER = True``)."""
    return getattr(STUDIOS[studio], "FREE_TIER", False) is True


def worker_of(studio: str) -> WorkerDeployment:
    """``studio``'s worker figures: its face's ``WORKER``, else the default."""
    found = getattr(STUDIOS[studio], "WORKER", DEFAULT_WORKER)
    assert isinstance(found, WorkerDeployment), f"{studio}.WORKER is not a WorkerDeployment"
    return found


def estimate(studio: str, params: dict[str, Any], *, allowed: Collection[str]) -> Estimate:
    """Price ``params`` as ``studio``'s route would plan them for a tier allowing ``allowed``; 422 names the bad field."""
    found = STUDIOS.get(studio)
    if found is None:
        raise ValidationFailed(
            "studio", f"unknown studio {studio!r}; choose from {', '.join(sorted(STUDIOS))}"
        )
    try:
        return found.estimate(params, allowed)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise ValidationFailed(f"params.{field}", first.get("msg", "invalid")) from exc
    except ValidationFailed as exc:
        if exc.field.startswith("params"):
            raise
        # Studios refuse in the route's own terms; here the field sits under ``params``.
        message = exc.detail.removeprefix(f"{exc.field}: ")
        raise ValidationFailed(f"params.{exc.field}", message) from exc
