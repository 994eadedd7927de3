"""Job bodies as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagestudio.jobs.models import JobStatus
from imagestudio.messaging import Priority
from imagestudio.paging import Page, page_example


class JobLinks(BaseModel):
    self: str
    cancel: str


class JobOutput(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

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
    #: The download name (``Content-Disposition`` of ``url``): the source's name and the output's.
    filename: str = Field(
        default="",
        description="The download's name: the source file's stem and the output's name "
        "(`beach-instagram-story.jpg`), else the output's stored name",
    )


#: A finished social job as ``GET /jobs/{id}`` answers it (the OpenAPI document's example).
JOB_EXAMPLE: dict[str, Any] = {
    "id": "0f9c7b1e-6d8a-4f55-9a3e-2b7f4c1d9e21",
    "status": "succeeded",
    "studio": "social",
    "created_at": "2025-01-31T09:30:00Z",
    "started_at": "2025-01-31T09:30:01Z",
    "finished_at": "2025-01-31T09:30:03Z",
    "updated_at": "2025-01-31T09:30:03Z",
    "progress": 1.0,
    "progress_message": "done",
    "attempts": 1,
    "params": {"formats": ["instagram.story"], "crop_mode": "smart", "output_format": "jpeg", "quality": 90},
    "error": None,
    "start_deadline": None,
    "outputs": [
        {
            "id": "5b2d0a7c-1f3e-4e8a-b6c9-7d1e2f3a4b5c",
            "name": "instagram.story.jpg",
            "kind": "image",
            "format": "jpeg",
            "content_type": "image/jpeg",
            "width": 1080,
            "height": 1920,
            "bytes": 245112,
            "url": "http://127.0.0.1:8000/files/outputs/0f9c7b1e/instagram.story.jpg?expires=1738320000&sig=…",
            "expires_at": "2025-01-31T10:30:03Z",
            "metadata": {"platform": "instagram", "format": "story"},
            "filename": "beach-instagram-story.jpg",
        }
    ],
    "queue_position": None,
    "estimated_start_seconds": None,
    "priority": "normal",
    "output_retention_seconds": 86400,
    "outputs_expire_at": "2025-02-01T09:30:03Z",
    "outputs_deleted_at": None,
    "source_names": {"image": "beach.jpg"},
    "links": {
        "self": "/api/image-studio/jobs/0f9c7b1e-6d8a-4f55-9a3e-2b7f4c1d9e21",
        "cancel": "/api/image-studio/jobs/0f9c7b1e-6d8a-4f55-9a3e-2b7f4c1d9e21/cancel",
    },
}


class JobRead(BaseModel):
    # Every field is always in a response: the document says so, so generated clients need no checks.
    model_config = ConfigDict(
        json_schema_extra={"examples": [JOB_EXAMPLE]}, json_schema_serialization_defaults_required=True
    )

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
    source_names: dict[str, str] = Field(
        default_factory=dict,
        description="The client's file name of each image input, by field (an upload's, a form file's, "
        "a URL's last part); outputs' `filename` is made from it",
    )
    #: Only while queued, and only in ``GET /jobs/{id}`` and the event stream (null in lists and the 202).
    queue_position: int | None = Field(
        default=None, ge=0, description="While queued: queued jobs of its studio ahead of it; else null"
    )
    estimated_start_seconds: float | None = Field(
        default=None,
        ge=0,
        description="While queued: seconds until it starts at its studio's recent start rate; null when unknown",
    )
    start_deadline: datetime | None = Field(
        default=None,
        description="The job ends `expired` unless it starts by then (the request's `start_deadline`)",
    )
    priority: Priority = Field(
        default=Priority.normal, description="Queued jobs of a higher priority start first (the request's)"
    )
    output_retention_seconds: int | None = Field(
        default=None, description="The request's `output_retention_seconds`: null when not set"
    )
    outputs_expire_at: datetime | None = Field(
        default=None, description="When its outputs and their files are deleted (set once it succeeded)"
    )
    outputs_deleted_at: datetime | None = Field(
        default=None,
        description="When its outputs were deleted (its retention passed): `outputs` is then empty",
    )
    links: JobLinks


class QueuePlace(BaseModel):
    """Where a queued job stands: its place in its studio's queue and the estimated wait."""

    queue_position: int
    estimated_start_seconds: float | None


class JobPage(Page[JobRead]):
    model_config = ConfigDict(json_schema_extra=page_example(JOB_EXAMPLE))
