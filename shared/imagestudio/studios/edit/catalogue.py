"""``GET /edit/operations`` as a model: every operation's inputs, limits, credits and paths."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imagestudio.studios.common.catalogue import (
    CatalogueField,
    CatalogueRead,
    ImageLimitsRead,
    NoLocalPathRead,
    PathName,
    ProviderPathRead,
)


class EditProviderRead(ProviderPathRead):
    """The provider path of an edit operation; general_edit says its per-model credits and limits."""

    credits_by_model: dict[str, int] | None = Field(default=None, description="general_edit: per model")
    model_limits: dict[str, ImageLimitsRead] | None = Field(
        default=None, description="general_edit: per model"
    )


class EditLocalPathRead(CatalogueRead):
    """The local path of an edit operation."""

    available: Literal[True]
    credits: int
    needs: list[str]
    notes: str
    limits: ImageLimitsRead


class EditOperationRead(CatalogueRead):
    id: str
    name: str
    description: str
    required: list[str]
    optional: list[str]
    inputs: dict[str, CatalogueField]
    needs_area: bool
    notes: str
    provider: EditProviderRead
    local: EditLocalPathRead | NoLocalPathRead
    paths: list[PathName]


class EditCatalogue(CatalogueRead):
    """``GET /edit/operations``: every operation, and every input any of them takes."""

    operations: list[EditOperationRead]
    fields: dict[str, CatalogueField]
