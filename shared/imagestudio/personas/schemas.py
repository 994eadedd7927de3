"""Persona bodies as clients send and see them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["PersonaCreate", "PersonaList", "PersonaPatch", "PersonaRead"]

_COLOUR_RE = re.compile(r"^(#[0-9a-fA-F]{6}|[A-Za-z][A-Za-z -]{0,29})$")


def _colour(value: str) -> str:
    if not _COLOUR_RE.match(value):
        raise ValueError("use #rrggbb or a colour name of up to 30 letters")
    return value.lower()


Colour = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_colour)]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


#: A persona as a partner writes it (the OpenAPI document's example).
PERSONA_EXAMPLE: dict[str, Any] = {
    "name": "Harbour Coffee",
    "description": "Independent roaster, seaside cafés",
    "tone": "warm, unhurried",
    "palette": ["#1b3a4b", "#f2e8cf"],
    "style_keywords": ["natural light", "film grain"],
    "avoid": ["plastic cups"],
}


class PersonaCreate(BaseModel):
    """A brand persona: tone, palette, style words and subjects to avoid."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PERSONA_EXAMPLE]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    description: str = Field(default="", max_length=500)
    tone: str = Field(default="", max_length=200, description="e.g. `warm, optimistic`")
    palette: list[Colour] = Field(default_factory=list, max_length=8)
    style_keywords: list[Phrase] = Field(default_factory=list, max_length=10)
    avoid: list[Phrase] = Field(default_factory=list, max_length=20, description="Subjects never shown")


class PersonaPatch(BaseModel):
    """Fields to change; omitted ones stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"tone": "warm, playful", "palette": ["#1b3a4b", "#f2e8cf", "#e07a5f"]}]
        },
    )

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    description: str | None = Field(default=None, max_length=500)
    tone: str | None = Field(default=None, max_length=200)
    palette: list[Colour] | None = Field(default=None, max_length=8)
    style_keywords: list[Phrase] | None = Field(default=None, max_length=10)
    avoid: list[Phrase] | None = Field(default=None, max_length=20)


#: The example persona as stored.
PERSONA_READ_EXAMPLE: dict[str, Any] = {
    "id": "3a7d9c1e-5b2f-4e8a-9c6d-1f2e3a4b5c6d",
    **PERSONA_EXAMPLE,
    "created_at": "2025-01-31T09:00:00Z",
    "updated_at": "2025-01-31T09:00:00Z",
}


class PersonaRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PERSONA_READ_EXAMPLE]})

    id: str
    name: str
    description: str
    tone: str
    palette: list[str]
    style_keywords: list[str]
    avoid: list[str]
    created_at: datetime
    updated_at: datetime


class PersonaList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [PERSONA_READ_EXAMPLE]}]})

    items: list[PersonaRead]
