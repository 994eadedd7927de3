"""What the studio catalogues share: a form field's description, the paths, the limits, the answer base.

Each studio builds its catalogue as plain data (``describe_operations()``, ``describe_modes()``,
``describe_options()``, ``Platform.describe()``); its catalogue route validates it into the studio's
model (``studios/<name>/catalogue.py``), so ``docs/openapi.json`` names every field a client may build
a form from. The models carry exactly those keys, in the same order:
``test_every_catalogue_answer_keeps_its_json`` holds the two in step. A form field's description
stays an open object: it is a JSON Schema fragment (type, enum, bounds, default, description), read
from the studio's request model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A studio input as a catalogue describes it: ``type``, and where they apply ``enum``, ``minimum``,
#: ``maximum``, ``max_length``, ``default`` and ``description`` (``type: file`` for an image).
CatalogueField = dict[str, Any]
#: The paths a routed studio's job may take.
PathName = Literal["auto", "provider", "local"]


class CatalogueRead(BaseModel):
    """An answer: the fields below and nothing else."""

    model_config = ConfigDict(extra="forbid")


class ImageLimitsRead(CatalogueRead):
    """The image sizes a path accepts (``None``: no bound)."""

    min_side: int
    max_side: int | None
    min_pixels: int
    max_pixels: int
    aspect_ratio: str | None = Field(description="e.g. ``1:2.5 to 2.5:1``")


class ProviderLimitsRead(ImageLimitsRead):
    """A provider's limits, with the largest request it takes."""

    max_request_bytes: int


class NoLocalPathRead(CatalogueRead):
    """The operation has no local path."""

    available: Literal[False]


class ProviderPathRead(CatalogueRead):
    """The provider path of an operation or mode, and whether it can be had now."""

    name: str
    endpoint: str
    credits: int
    asynchronous: bool
    configured: bool
    healthy: bool
    simulated: bool | None
    limits: ProviderLimitsRead
