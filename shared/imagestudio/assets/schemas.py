"""Asset bodies as clients see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagestudio.jobs.schemas import JOB_EXAMPLE
from imagestudio.paging import Page, page_example

_OUTPUT = JOB_EXAMPLE["outputs"][0]

#: The output of the example job as the library shows it (the OpenAPI document's examples).
ASSET_EXAMPLE: dict[str, Any] = {
    **_OUTPUT,
    "job_id": JOB_EXAMPLE["id"],
    "studio": JOB_EXAMPLE["studio"],
    "provider": None,
    "prompt": None,
    "tags": ["spring-campaign", "instagram"],
    "favorite": True,
    "usage_count": 1,
    "last_used_at": "2025-02-03T14:12:00Z",
    "created_at": JOB_EXAMPLE["finished_at"],
}

#: Where the example asset was used.
USAGE_EXAMPLE: dict[str, Any] = {
    "used_in": "https://www.instagram.com/p/C3xAmPle/",
    "note": "spring launch story",
    "created_at": "2025-02-03T14:12:00Z",
}


@dataclass(frozen=True)
class AssetFilter:
    """What a library search narrows by; each field left ``None`` does not narrow."""

    studio: str | None = None
    provider: str | None = None
    tag: str | None = None
    favorite: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None


class AssetRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ASSET_EXAMPLE]})

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
    filename: str = Field(
        default="", description="The download's name: the source file's stem and the output's name"
    )


class AssetPage(Page[AssetRead]):
    model_config = ConfigDict(json_schema_extra=page_example(ASSET_EXAMPLE))


#: Tags are short labels; limits keep a tenant's library searchable and rows small.
Tag = str


class AssetPatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"tags": ["spring-campaign"], "favorite": True}]}
    )

    tags: list[Tag] | None = Field(default=None, max_length=50)
    favorite: bool | None = None


class AssetUsageCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{k: USAGE_EXAMPLE[k] for k in ("used_in", "note")}]}
    )

    used_in: str = Field(
        min_length=1, max_length=300, description="Where it was used: a campaign, post URL, page"
    )
    note: str = Field(default="", max_length=1000)


class AssetUsageRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [USAGE_EXAMPLE]})

    used_in: str
    note: str
    created_at: datetime


class BulkAction(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "action": "tag",
                    "ids": [ASSET_EXAMPLE["id"], "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"],
                    "tags": ["spring-campaign"],
                }
            ]
        }
    )

    action: Literal["favorite", "unfavorite", "tag", "untag", "delete"]
    ids: list[str] = Field(min_length=1, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class BulkResult(BaseModel):
    id: str
    ok: bool
    status: int
    detail: str | None = None


class BulkResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"id": ASSET_EXAMPLE["id"], "ok": True, "status": 200, "detail": None},
                        {
                            "id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                            "ok": False,
                            "status": 404,
                            "detail": "No asset 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                        },
                    ],
                    "succeeded": 1,
                    "failed": 1,
                }
            ]
        }
    )

    results: list[BulkResult]
    succeeded: int
    failed: int
