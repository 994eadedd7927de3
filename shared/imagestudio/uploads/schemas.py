"""Upload bodies as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagestudio.paging import Page, page_example

#: A ready upload as ``GET /uploads/{id}`` answers it (the OpenAPI document's example).
UPLOAD_EXAMPLE: dict[str, Any] = {
    "id": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
    "state": "ready",
    "width": 1600,
    "height": 1200,
    "format": "png",
    "bytes": 482113,
    "content_type": "image/png",
    "filename": "beach.png",
    "created_at": "2025-01-31T09:29:58Z",
    "expires_at": "2025-02-01T09:29:58Z",
}


class UploadRead(BaseModel):
    """An upload; width, height and format are null while a presigned upload is still pending."""

    model_config = ConfigDict(json_schema_extra={"examples": [UPLOAD_EXAMPLE]})

    id: str
    state: Literal["pending", "ready"]
    width: int | None
    height: int | None
    format: str | None
    bytes: int
    content_type: str
    filename: str | None = Field(
        default=None,
        description="The client's file name, cleaned; outputs made from the upload are named after it",
    )
    created_at: datetime
    expires_at: datetime


class UploadPage(Page[UploadRead]):
    """A page of the tenant's uploads, newest first; ``next_cursor`` is null on the last page."""

    model_config = ConfigDict(json_schema_extra=page_example(UPLOAD_EXAMPLE))


class UploadPresign(BaseModel):
    """Ask for a presigned PUT URL; the file goes straight to storage, never through the gateway."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"content_type": "image/png", "bytes": 482113, "filename": "beach.png"}]
        }
    )

    content_type: str = Field(description="The image's type, e.g. image/png", max_length=100)
    bytes: int = Field(gt=0, description="The file's size; at most the upload byte limit")
    filename: str | None = Field(
        default=None,
        max_length=1000,
        description="The file's name on the client (kept cleaned, at most 120 characters); outputs are named after it",
    )


class UploadFromAsset(BaseModel):
    """Make an upload of one of the tenant's job outputs (an asset), copied inside storage: no re-upload."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"asset_id": "3f0c9a6b-2e5d-4c1a-8b7e-6f5d4c3b2a19"}]}
    )

    asset_id: str = Field(
        min_length=1, max_length=36, description="An image output's id (a job output's `id`)"
    )


class UploadFromJob(BaseModel):
    """Make an upload of the image a job was given (its stored input), so the job can be sent again
    from its params as ``GET /jobs/{id}`` answers them (the console's "Run again"): no re-upload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"job_id": "0f9c7b1e-6d8a-4f55-9a3e-2b7f4c1d9e21", "field": "image"}]
        },
    )

    job_id: str = Field(min_length=1, max_length=36, description="One of your jobs")
    field: str = Field(
        default="image", min_length=1, max_length=40, description="The job's image field: `image`, `mask`, …"
    )


class UploadPresigned(BaseModel):
    """Where to PUT the file: ``put_url`` (until ``put_expires_at``); checked when a job first uses it."""

    id: str
    state: Literal["pending"] = "pending"
    put_url: str
    put_expires_at: datetime
    content_type: str
    bytes: int
    filename: str | None = None
    expires_at: datetime
