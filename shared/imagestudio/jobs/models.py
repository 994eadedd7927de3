"""Job and job-event tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.messaging import Studio as Studio  # the one list of studios, re-exported for the routes
from imagestudio.orm import Base, SerialKey, TenantRef, UUIDKey, utcnow


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"
    #: Not started by its ``start_deadline``: dropped unrun, its credits released.
    expired = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.canceled, JobStatus.expired})

#: The entry of ``Job.inputs`` holding the (width, height) the gateway checked for each input, by
#: field: the worker refuses an input whose header says otherwise. No image field has this name.
CHECKED_SIZES = "@checked_sizes"
#: The entry of ``Job.params`` recording the images a request gave by URL, by field (kept once the
#: worker has fetched them into the job's inputs).
IMAGE_URLS = "image_urls"
#: The entry of ``Job.params`` of a job given images by URL that no worker has prepared yet: the
#: request as given (``{"model": <its class>, "fields": {...}}``). The worker fetches the images,
#: runs the studio's ``prepare`` on their headers and replaces the params with the prepared ones.
UNPREPARED_REQUEST = "unprepared_request"
#: The entry of ``Job.inputs`` holding the client's file name of each image input, by field (an
#: upload's recorded name, a form file's name, a URL's last path part): outputs are named after it.
SOURCE_NAMES = "@source_names"


class NewJob(Protocol):
    """What the submission statement and a job's first message read of a new job: a ``Job`` row,
    or the event loop's ``QueuedJob`` (its plain values, no ORM object built to be read back)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def studio(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def start_deadline(self) -> datetime | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def output_retention_seconds(self) -> int | None: ...


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
        Index("ix_jobs_tenant_studio_status", "tenant_id", "studio", "status"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_studio_created", "studio", "created_at"),
        # A queued job's place in its studio's queue: index-only counts of the entries before it
        # (those of a higher priority, then those of its own created before it).
        Index(
            "ix_jobs_queued_studio_priority",
            "studio",
            "priority",
            "created_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # A studio's recent start rate (the wait estimate): started jobs only (migration 0016), so
        # a new job adds no entry.
        Index(
            "ix_jobs_studio_started",
            "studio",
            "started_at",
            postgresql_where=text("started_at IS NOT NULL"),
            sqlite_where=text("started_at IS NOT NULL"),
        ),
        # Queued jobs past their start deadline (the sweeper's look-up).
        Index(
            "ix_jobs_queued_deadline",
            "start_deadline",
            postgresql_where=text("status = 'queued' AND start_deadline IS NOT NULL"),
            sqlite_where=text("status = 'queued' AND start_deadline IS NOT NULL"),
        ),
        # Succeeded jobs whose outputs are due for deletion (the retention sweeper's look-up).
        Index(
            "ix_jobs_outputs_expire",
            "outputs_expire_at",
            postgresql_where=text("outputs_expire_at IS NOT NULL AND outputs_deleted_at IS NULL"),
            sqlite_where=text("outputs_expire_at IS NOT NULL AND outputs_deleted_at IS NULL"),
        ),
    )

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef]
    studio: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    #: The validated request (no image bytes): what the worker needs to redo the job.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Object keys of the uploads, by field name (and, under ``CHECKED_SIZES``, their checked sizes).
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_message: Mapped[str] = mapped_column(Text, default="")
    #: RFC 9457 problem details when the job failed.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: Times a worker claimed the job, redeliveries after a crash included.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: The worker run holding a running job (``host:pid:uuid``); None when no worker holds it.
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    #: Until when that worker holds it (renewed while it runs); past it, another may take over.
    #: On a queued, re-staged or parked job: when the sweeper looks at it again.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    #: Messages the sweeper staged again for this job (lost message, expired lease).
    restages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: A job not started by then ends ``expired`` (the request's ``start_deadline``); None: no deadline.
    start_deadline: Mapped[datetime | None] = mapped_column(default=None)
    #: The request's ``priority`` as its rank (``messaging.PRIORITY_RANKS``, also its message's AMQP
    #: priority): queued jobs of a higher rank start before those of a lower one.
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Seconds its outputs are kept once it succeeded (the request's ``output_retention_seconds``);
    #: None: only the service-wide asset retention applies.
    output_retention_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    #: When the retention sweeper deletes its outputs (set as it succeeds); None: not scheduled.
    outputs_expire_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When the retention sweeper deleted its outputs and their objects.
    outputs_deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class JobEvent(Base):
    """Append-only history of a job (status changes, progress); feeds status and event streams."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[SerialKey]
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
