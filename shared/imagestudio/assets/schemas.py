"""Asset bodies as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class AssetRead(BaseModel):
    id: str
    job_id: str
    studio: str
    name: str
    kind: str
    format: str
    content_type: str
    width: int | None
    height: int | None
    bytes: int
    provider: str | None
    prompt: str | None
    tags: list[str]
    favorite: bool
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    url: str
    expires_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)


class AssetPage(BaseModel):
    items: list[AssetRead]
    next_cursor: str | None = None


#: Tags are short labels; limits keep a tenant's library searchable and rows small.
Tag = str


class AssetPatch(BaseModel):
    tags: list[Tag] | None = Field(default=None, max_length=50)
    favorite: bool | None = None


class AssetUsageCreate(BaseModel):
    used_in: str = Field(
        min_length=1, max_length=300, description="Where it was used: a campaign, post URL, page"
    )
    note: str = Field(default="", max_length=1000)


class AssetUsageRead(BaseModel):
    used_in: str
    note: str
    created_at: datetime


class BulkAction(BaseModel):
    action: Literal["favorite", "unfavorite", "tag", "untag", "delete"]
    ids: list[str] = Field(min_length=1, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class BulkResult(BaseModel):
    id: str
    ok: bool
    status: int
    detail: str | None = None


class BulkResponse(BaseModel):
    results: list[BulkResult]
    succeeded: int
    failed: int
