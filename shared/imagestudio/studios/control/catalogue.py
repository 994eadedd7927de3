"""``GET /control/operations`` as a model: every operation's images, fields, defaults and providers."""

from __future__ import annotations

from pydantic import Field

from imagestudio.studios.common.catalogue import CatalogueField, CatalogueRead, ProviderLimitsRead


class ControlProviderRead(CatalogueRead):
    name: str
    model: str
    credits: int
    asynchronous: bool
    configured: bool
    healthy: bool
    simulated: bool | None
    applies: list[str] = Field(description="The strengths this provider honours")
    limits: ProviderLimitsRead


class ControlOperationRead(CatalogueRead):
    id: str
    name: str
    description: str
    images: list[str]
    required: list[str]
    optional: list[str]
    inputs: dict[str, CatalogueField]
    defaults: dict[str, float]
    control_map: str | None = Field(description="The pre-processed image stored as output ``control_map``")
    providers: list[ControlProviderRead]
    available: bool


class ControlCatalogue(CatalogueRead):
    """``GET /control/operations``: every operation, and every input any of them takes."""

    operations: list[ControlOperationRead]
    fields: dict[str, CatalogueField]
