"""Every studio by name: the gateway's batch route looks studios up here."""

from __future__ import annotations

from typing import Any

from imagestudio.studios import control, create, edit, social, upscale
from imagestudio.studios.base import Studio

#: Each studio module, checked by mypy to have the shape :class:`~imagestudio.studios.base.Studio` names.
STUDIOS: dict[str, Studio[Any]] = {
    "social": social,
    "edit": edit,
    "upscale": upscale,
    "create": create,
    "control": control,
}
