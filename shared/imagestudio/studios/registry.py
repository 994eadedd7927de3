"""Every studio request by name: the gateway's batch route looks studios up here.

A name is a studio, or a second route of one (``convert``, whose jobs are ``compress`` jobs).
"""

from __future__ import annotations

from typing import Any

from imagestudio.studios import compress, control, convert, create, edit, social, upscale
from imagestudio.studios.base import Studio

#: Each studio module, checked by mypy to have the shape :class:`~imagestudio.studios.base.Studio` names.
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
