"""The service's bodies as typed models; unknown fields are kept, so a newer service never breaks an older client."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Required, TypedDict

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
Studio = Literal["create", "edit", "upscale", "social", "control", "compress"]
#: What a batch entry names: a studio, or ``convert`` (the compress studio's second route).
BatchStudio = Literal["create", "edit", "upscale", "social", "control", "compress", "convert"]
#: Statuses a job never leaves.
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class JobLinks(Model):
    self: str
    cancel: str


class JobOutput(Model):
    id: str
    name: str
    kind: str
    format: str
    content_type: str
    width: int | None = None
    height: int | None = None
    bytes: int
    url: str
    expires_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: The service's download name: the source file's stem and the output's name
    #: (``beach-instagram-story.jpg``); empty from a service that sends none.
    filename: str = ""

    @property
    def local_name(self) -> str:
        """The file name :meth:`download` saves under: the output's name with its format's extension
        (the job's outputs never collide, whatever the source was called)."""
        ext = {"jpeg": "jpg"}.get(self.format, self.format)
        return self.name if self.name.endswith(f".{ext}") else f"{self.name}.{ext}"


class JobData(Model):
    """A job as ``GET /jobs/{id}`` answers it."""

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
    #: While queued: queued jobs of its studio ahead of it, and the estimated wait (None when unknown).
    queue_position: int | None = None
    estimated_start_seconds: float | None = None
    #: The job ends ``expired`` unless it starts by then.
    start_deadline: datetime | None = None
    #: ``low``, ``normal`` or ``high``: queued jobs of a higher priority start first.
    priority: str = "normal"
    #: The request's ``output_retention_seconds``; when the outputs are deleted (set once it
    #: succeeded), and when they were (``outputs`` is then empty). None from servers before them.
    output_retention_seconds: int | None = None
    outputs_expire_at: datetime | None = None
    outputs_deleted_at: datetime | None = None
    #: The client's file name of each image input, by field (``{"image": "beach.jpg"}``).
    source_names: dict[str, str] = Field(default_factory=dict)
    links: JobLinks

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed, canceled or expired)."""
        return self.status in TERMINAL


class JobEvent(Model):
    """One Server-Sent Event of ``GET /jobs/{id}/events`` (``id`` resumes the stream)."""

    id: int
    job_id: str
    type: str
    created_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.type in {f"job.{status}" for status in TERMINAL}


class Upload(Model):
    """An upload; width, height and format are None while a presigned upload is pending."""

    id: str
    state: Literal["pending", "ready"]
    width: int | None = None
    height: int | None = None
    format: str | None = None
    bytes: int
    content_type: str
    #: The client's file name, as the service keeps it (cleaned); None when none was sent.
    filename: str | None = None
    created_at: datetime | None = None
    expires_at: datetime
    put_url: str | None = None
    put_expires_at: datetime | None = None


class BatchJob(Model):
    """One job of a batch: the studio and its JSON body (images as upload ids)."""

    studio: BatchStudio
    params: dict[str, Any]


class LedgerEntry(Model):
    id: int
    kind: str
    balance_delta: int
    reserved_delta: int
    job_id: str | None = None
    reference: str
    note: str
    created_at: datetime


class Credits(Model):
    tier: str
    monthly_credits: int
    balance: int
    reserved: int
    available: int
    #: Bytes of uploads and outputs stored, and the storage quota (None from servers before them).
    stored_bytes: int | None = None
    max_stored_bytes: int | None = None
    #: The priorities and the longest output retention the tier allows (empty / None from older servers).
    priorities: list[str] = Field(default_factory=list)
    max_output_retention_seconds: int | None = None
    entries: list[LedgerEntry] = Field(default_factory=list)


class Asset(Model):
    id: str
    url: str | None = None
    job_id: str | None = None
    studio: str | None = None
    name: str | None = None
    #: The download's name: the source file's stem and the output's name.
    filename: str | None = None
    tags: list[str] = Field(default_factory=list)
    favorite: bool = False


class WebhookOutput(Model):
    name: str
    kind: str
    content_type: str
    width: int | None = None
    height: int | None = None
    url: str
    expires_at: datetime


class WebhookJobData(Model):
    id: str
    status: str
    studio: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    outputs: list[WebhookOutput] = Field(default_factory=list)
    #: True when the outputs did not all fit in the payload: get the job for the rest.
    outputs_truncated: bool = False
    links: dict[str, str] = Field(default_factory=dict)


class WebhookEvent(Model):
    """A verified webhook: ``job.queued``, ``job.running``, ``job.succeeded``, ``job.failed`` or ``job.canceled``."""

    type: str
    timestamp: datetime
    data: WebhookJobData


class WebhookEndpoint(Model):
    """A registered webhook endpoint (its secret is shown only when created or rotated)."""

    id: str
    url: str
    description: str = ""
    event_types: list[str] = Field(default_factory=list)
    enabled: bool
    disabled_reason: str | None = None
    failed_deliveries: int = 0
    secret_hint: str = ""
    #: The signing secret, on the answers to create and rotate only.
    secret: str | None = None


class WebhookDelivery(Model):
    """One event sent (or being sent) to one URL, with its attempts."""

    id: str
    event_type: str
    job_id: str | None = None
    endpoint_id: str | None = None
    url: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime


class Persona(Model):
    """A brand persona a create job may name (``persona_id``)."""

    id: str
    name: str
    description: str = ""
    tone: str = ""
    palette: list[str] = Field(default_factory=list)
    style_keywords: list[str] = Field(default_factory=list)
    avoid: list[str] = Field(default_factory=list)


class CustomFormat(TypedDict, total=False):
    """A social format the request sizes itself, beside catalogue keys in ``formats``:
    ``{"name": "partner_banner", "width": 1200, "height": 1500}``; ``safe_zone`` (edge fractions
    ``top``, ``bottom``, ``left``, ``right``) and ``max_bytes`` are optional."""

    name: Required[str]
    width: Required[int]
    height: Required[int]
    safe_zone: dict[str, float]
    max_bytes: int


class CropBox(TypedDict):
    """A crop set by hand for one format, in the source's pixels: ``{"x", "y", "width", "height"}``,
    of the format's aspect ratio (within 1 % or a pixel); ``crops={"instagram.story": box}``."""

    x: int
    y: int
    width: int
    height: int


class FormatPlan(Model):
    """One format's crop as the social job makes it; boxes are ``(left, top, width, height)`` in the
    source's pixels unless named ``_in_output``."""

    format: str
    width: int
    height: int
    #: None in fit mode (the whole photo is letterboxed).
    crop_box: tuple[int, int, int, int] | None
    #: Above 1.0 when the crop was zoomed in to clear the safe zone.
    zoom: float
    #: ``faces``, ``subject``, ``attention``, ``focal_point``, ``center``, ``fit`` or ``user``.
    placed_on: str
    #: ``user`` when the request's ``crops`` set the box, else ``studio``.
    crop_set_by: str = "studio"
    subject_box: tuple[int, int, int, int] | None
    subject_box_in_output: tuple[int, int, int, int] | None
    inside_safe_zone: bool | None
    #: What held the zoom, so a subject outside the safe zone says why: ``none`` (placed inside),
    #: ``bound`` (needs more than the zoom bound), ``source_resolution`` (needs a crop smaller than
    #: the output), ``no_zoom_fits``, ``no_safe_zone`` or ``not_placed``.
    zoom_limit: str = "not_placed"
    faces: list[tuple[int, int, int, int]]
    safe_zone: dict[str, float]


class SocialPlan(Model):
    """Every chosen format's crop of one image (``POST /social/plan``), without rendering."""

    source_width: int
    source_height: int
    crop_mode: str
    formats: list[FormatPlan]
