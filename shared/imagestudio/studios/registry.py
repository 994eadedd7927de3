"""Every studio by name: the one list the gateway's batch route, estimates and the docs read.

A name is a studio, or a second route of one (``convert``, whose jobs are ``compress`` jobs). Adding a
studio is one folder under ``studios/`` plus one line here (and its name in
:class:`imagestudio.messaging.Studio`, the leaf the lower layers read; a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from imagestudio.errors import ValidationFailed
from imagestudio.studios import compress, control, create, edit, social, upscale
from imagestudio.studios.common.base import Studio
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.compress import convert

#: Each studio module, checked by mypy to have the shape :class:`~imagestudio.studios.common.base.Studio` names.
STUDIOS: dict[str, Studio[Any]] = {
    "social": social,
    "edit": edit,
    "upscale": upscale,
    "create": create,
    "control": control,
    "compress": compress,
    # A route of the compress studio with its own request: its jobs are compress jobs.
    "convert": convert,
}


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
