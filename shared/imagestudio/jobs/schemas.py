"""Job bodies as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from imagestudio.jobs.models import JobStatus


class JobLinks(BaseModel):
    self: str
    cancel: str


class JobOutput(BaseModel):
    id: str
    name: str
    kind: str
    format: str
    content_type: str
    width: int | None
    height: int | None
    bytes: int
    url: str
    expires_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)


class JobRead(BaseModel):
    id: str
    status: JobStatus
    studio: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    progress: float = 0.0
    progress_message: str = ""
    attempts: int = 0
    params: dict[str, Any] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    outputs: list[JobOutput] = Field(default_factory=list)
    links: JobLinks


class JobPage(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = None
