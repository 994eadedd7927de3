"""Runs one delivery of a job: claim, call the studio, record outputs, finish or fail.

Shared by every studio's actor. A job is idempotent per id: outputs are keyed by (job, name),
so a redelivered message rewrites the same objects and rows. Attempts are counted in the
database, so a worker killed mid-job (its message redelivered by RabbitMQ) counts too; past
``max_attempts`` the job fails with that reason instead of running forever.

Each delivery claims the job under a lease of its own (``jobs/leases.py``): a duplicate message
that arrives while another worker holds a live lease backs off, then is dropped, so the job never
runs twice at once; a delivery whose lease was taken over (it stalled past the lease, the job was
re-staged and claimed again) stops at its next renewal without writing outputs or finishing it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.deferral import defer_current_message
from imagestudio.errors import (
    PERMANENT_ERRORS,
    ImageChanged,
    ImageStudioError,
    ImageTooLarge,
    JobCrashed,
    StorageQuotaExceeded,
    WorkerLost,
)
from imagestudio.imaging import inspect_image
from imagestudio.jobs.leases import lease_keeper, new_lease_owner
from imagestudio.jobs.models import CHECKED_SIZES, SOURCE_NAMES, Job, JobStatus
from imagestudio.jobs.repository import JobShare
from imagestudio.jobs.service import job_service
from imagestudio.jobs.transitions import job_share
from imagestudio.storage import download_name, get_store, output_key
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.middleware import job_claimed, job_ended
from imagestudio.telemetry.tracing import current_trace_id
from imagestudio.urls import job_path

log = get_logger(__name__)


class JobCanceled(Exception):
    """Raised inside a handler when the job was canceled while it ran."""


class LeaseLost(JobCanceled):
    """Raised inside a handler whose lease another delivery took over: stop, write nothing more."""


class JobDeferred(Exception):
    """Raised by a handler whose job goes on in a later message (async provider work being polled)."""


@dataclass
class JobContext:
    """What a studio handler sees of its job."""

    job_id: str
    tenant_id: str
    studio: str
    params: dict[str, Any]
    inputs: dict[str, str]
    attempt: int
    #: The (width, height) the gateway checked for each input, by field (none for older jobs).
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The client's file name of each image input, by field: outputs are named after it.
    source_names: dict[str, str] = field(default_factory=dict)
    #: Deliveries the job may use; a handler that re-schedules itself stops doing so at the last.
    max_attempts: int = 3
    outputs_written: list[str] = field(default_factory=list)
    #: The lease this delivery holds (None: a poll message, which holds none).
    lease_owner: str | None = None
    _renewed_at: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def for_job(cls, job: Job, *, lease_owner: str | None = None) -> JobContext:
        """The context of one delivery of ``job`` (its attempt as the claim counted it)."""
        return cls(
            lease_owner=lease_owner,
            job_id=job.id,
            tenant_id=job.tenant_id,
            studio=job.studio,
            params=dict(job.params),
            inputs={name: key for name, key in job.inputs.items() if isinstance(key, str)},
            sizes={
                name: (int(size[0]), int(size[1]))
                for name, size in dict(job.inputs.get(CHECKED_SIZES) or {}).items()
            },
            source_names={str(k): str(v) for k, v in dict(job.inputs.get(SOURCE_NAMES) or {}).items()},
            attempt=job.attempts,
            max_attempts=job.max_attempts,
        )

    def source_name(self) -> str | None:
        """The file name outputs are named after: the ``image`` input's, else the first input's."""
        return self.source_names.get("image") or next(iter(self.source_names.values()), None)

    def read_input(self, name: str) -> bytes:
        """One input's bytes, checked from its header before any decoder sees them.

        At most ``max_upload_bytes`` are read; the header must be within ``max_image_pixels`` (and
        the frame cap) and show the size the gateway checked. Otherwise the job fails with
        ``invalid-image`` / ``image-too-large`` / ``image-changed`` (permanent: its credits are released).
        """
        settings = get_settings()
        limit = settings.max_upload_bytes
        data = get_store().get(self.inputs[name], limit=limit)
        expected = self.sizes.get(name)
        if len(data) > limit:
            if expected is not None:
                raise ImageChanged(name, f"the stored file is now over the {limit:,} byte limit")
            raise ImageTooLarge(name, f"the stored file is over the {limit:,} byte limit")
        info = inspect_image(data, max_pixels=settings.max_image_pixels, max_bytes=limit, field=name)
        if expected is not None and (info.width, info.height) != expected:
            raise ImageChanged(
                name,
                f"the stored file is {info.width}x{info.height}, but a "
                f"{expected[0]}x{expected[1]} image was checked when the job was accepted",
            )
        return data

    def add_output(
        self,
        name: str,
        data: bytes,
        *,
        ext: str,
        content_type: str,
        format: str,
        kind: str = "image",
        position: int = 0,
        width: int | None = None,
        height: int | None = None,
        metadata: dict[str, Any] | None = None,
        provider: str | None = None,
        prompt: str | None = None,
    ) -> None:
        """Store one output and record it, only while the job is still running.

        Raises JobCanceled (the object just stored deleted again) when the job was canceled or
        failed meanwhile: a canceled job stops at its next output, not only at its next progress.
        Raises ``StorageQuotaExceeded`` (nothing stored) when the output would take the tenant past
        its storage quota: the job fails, its credits are released.
        """
        self.keep_lease()  # a delivery whose job was taken over writes no output
        key = output_key(self.tenant_id, self.job_id, name, ext)
        store = get_store()
        with session_scope() as session:  # the cheap refusal, before the object is written
            asset_service.check_room(
                session, tenant_id=self.tenant_id, job_id=self.job_id, name=name, data=data
            )
        store.put(key, data, content_type=content_type)
        with session_scope() as session:
            if not job_service.hold_running(session, job_id=self.job_id):
                session.rollback()
                store.delete(key)
                raise JobCanceled(self.job_id)
            try:
                asset_service.record_output(
                    session,
                    tenant_id=self.tenant_id,
                    job_id=self.job_id,
                    studio=self.studio,
                    name=name,
                    key=key,
                    kind=kind,
                    position=position,
                    content_type=content_type,
                    format=format,
                    width=width,
                    height=height,
                    bytes=len(data),
                    filename=download_name(self.source_name(), name, ext),
                    meta=metadata or {},
                    provider=provider,
                    prompt=prompt,
                )
            except StorageQuotaExceeded:  # another output took the room meanwhile
                session.rollback()
                store.delete(key)
                raise
        self.outputs_written.append(name)
        delay = get_settings().debug_output_delay_seconds
        if delay:
            time.sleep(delay)

    def progress(self, fraction: float, message: str) -> None:
        """Report progress; raises JobCanceled when the client canceled the job meanwhile."""
        with session_scope() as session:
            running = job_service.set_progress(
                session, job_id=self.job_id, progress=round(min(max(fraction, 0.0), 1.0), 4), message=message
            )
        if not running:
            raise JobCanceled(self.job_id)
        self.keep_lease()

    def keep_lease(self) -> None:
        """Renew this delivery's lease (at most every few seconds); raises ``LeaseLost`` when
        another delivery holds the job now. A job that ended meanwhile is left to the caller."""
        if self.lease_owner is None:
            return
        now = time.monotonic()
        # Renewed that recently, the lease cannot have expired: nobody can have taken it over.
        if now - self._renewed_at < min(5.0, get_settings().job_lease_seconds / 4):
            return
        with session_scope() as session:
            held = job_service.renew_lease(session, job_id=self.job_id, owner=self.lease_owner)
            if not held and _taken_over(session, self.job_id):
                raise LeaseLost(self.job_id)
        self._renewed_at = now


def _taken_over(session: Session, job_id: str) -> bool:
    """Whether a job this delivery no longer holds is still running (so another delivery has it)."""
    job = job_service.for_worker(session, job_id=job_id)
    return job is not None and job.status == JobStatus.running


def _back_off(job_id: str, held_until: datetime) -> None:
    """Another delivery holds the job: retry once its lease could have expired, or drop this one.

    A worker that was killed leaves a lease that expires: the retry takes the job over. A holder
    still renewing is alive and will end the job, so past the retry budget the duplicate is
    dropped (acked); should that holder die later, the sweeper re-stages the job.
    """
    message = CurrentMessage.get_current_message()
    if message is not None:
        actor = dramatiq.get_broker().get_actor(message.actor_name)
        limit = int(message.options.get("max_retries", actor.options.get("max_retries", 0)))
        if int(message.options.get("retries", 0)) < limit - 1:
            delay = max(1.0, (held_until - utcnow()).total_seconds() + 1.0)
            raise dramatiq.Retry(f"job {job_id} is held by another delivery", delay=int(delay * 1000))
    log.info("job.duplicate_dropped", job_id=job_id)


class _TenantsAtShare:
    """Tenants this process found at their share a moment ago, by (tenant, studio or ``*``).

    While one tenant floods a queue, most of its messages reach a worker while it already runs
    its share; this lets the worker put them back without a query for ``MEMO_SECONDS`` (or until
    this process ends one of the tenant's jobs), so it works through a long backlog quickly and
    another tenant's message behind it starts soon. The claim's guarded count still decides who runs.
    """

    #: How long a tenant found at its share is taken to stay there (other processes may end its
    #: jobs meanwhile: at worst a share stays idle this long).
    MEMO_SECONDS = 0.5

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(message: dramatiq.Message[Any] | None, share: JobShare | None) -> tuple[str, str] | None:
        tenant_id = message.kwargs.get("tenant_id") if message is not None else None
        if share is None or message is None or not isinstance(tenant_id, str):
            return None  # an older message without its tenant: the claim alone decides
        return tenant_id, (message.queue_name if share.per_studio else "*")

    def known(self, key: tuple[str, str]) -> bool:
        until = self._until.get(key)
        return until is not None and until > time.monotonic()

    def remember(self, key: tuple[str, str]) -> None:
        with self._lock:
            if len(self._until) >= 10_000:  # bounded: drop the lot rather than track ages
                self._until.clear()
            self._until[key] = time.monotonic() + self.MEMO_SECONDS

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            for key in [k for k in self._until if k[0] == tenant_id]:
                del self._until[key]


_tenants_at_share = _TenantsAtShare()


Handler = Callable[[JobContext], None]


def _problem(exc: BaseException, *, job_id: str, attempts: int) -> dict[str, Any]:
    """What the client reads on the failed job: never an unexpected exception's type or text
    (it can name hosts, paths or secrets); ``job.failed`` logs those with the trace id."""
    error = exc if isinstance(exc, ImageStudioError) else JobCrashed(attempts=attempts)
    problem = error.to_problem(instance=job_path(job_id))
    trace_id = current_trace_id()
    if trace_id:
        problem["trace_id"] = trace_id
    problem["attempts"] = attempts
    return problem


def _cause(exc: BaseException) -> str:
    """The full cause for the logs (our errors' detail is what ``repr`` would hide behind a title)."""
    detail = exc.detail if isinstance(exc, ImageStudioError) else str(exc)
    return f"{type(exc).__name__}: {detail}"


def run_job(job_id: str, handler: Handler) -> None:
    """One delivery of ``job_id``; raises only to ask Dramatiq for a retry."""
    owner = new_lease_owner()
    message = CurrentMessage.get_current_message()
    # Outside a worker's message (a direct call) there is nothing to put back: no share applies.
    share = job_share() if message is not None else None
    seen = _tenants_at_share.key(message, share)
    if seen is not None and _tenants_at_share.known(seen):
        # Its tenant was at its share a moment ago: put it back without asking the database.
        defer_current_message("tenant-share")
        return
    at_share = False
    with session_scope() as session:
        claim = job_service.claim_lease(session, job_id=job_id, owner=owner, share=share)
        job = claim.job
        if job is None:
            if claim.held_until is not None:
                _back_off(job_id, claim.held_until)
            at_share = claim.at_share
        else:
            job_claimed(
                job_id=job.id,
                studio=job.studio,
                attempt=job.attempts,
                created_at=job.created_at,
                started_at=job.started_at,
            )
            if job.attempts > job.max_attempts:
                # Every earlier delivery ended without an outcome: the worker died each time.
                lost = WorkerLost(max_attempts=job.max_attempts, attempts=job.attempts - 1)
                job_service.fail(session, job_id=job_id, problem=lost.to_problem(instance=job_path(job_id)))
                log.error("job.failed", job_id=job_id, reason=lost.slug, attempts=job.attempts - 1)
                job_ended("failed", problem={"type": lost.type})
                return
            ctx = JobContext.for_job(job, lease_owner=owner)
    if job is None:
        if at_share:
            if seen is not None:
                _tenants_at_share.remember(seen)
            # The sweeper's note committed, then the copy published, then this message acked.
            defer_current_message("tenant-share")
        return
    lease_keeper.hold(owner)
    try:
        _deliver(ctx, handler, owner)
    finally:
        lease_keeper.release(owner)
        _tenants_at_share.forget(ctx.tenant_id)  # a share of this tenant may be free now


def _deliver(ctx: JobContext, handler: Handler, owner: str) -> None:
    """Run the handler for a claimed job and record how it ended, while this delivery holds it."""
    job_id, max_attempts = ctx.job_id, ctx.max_attempts
    settings = get_settings()
    log.info("job.started", job_id=job_id, studio=ctx.studio, attempt=ctx.attempt)
    started = time.monotonic()
    try:
        handler(ctx)
    except LeaseLost:
        log.warning("job.lease_lost", job_id=job_id, owner=owner)
        return
    except JobCanceled:
        log.info("job.stopped_canceled", job_id=job_id)
        job_ended("canceled")
        return
    except JobDeferred:
        # Still running: its poll message, already staged, finishes it; this delivery is acked.
        # The chain holds no lease: the sweeper looks again once its deadline has long passed.
        with session_scope() as session:
            job_service.release_lease(
                session,
                job_id=job_id,
                owner=owner,
                seconds=settings.async_poll_deadline_seconds + settings.job_claim_timeout_seconds,
            )
        log.info("job.deferred", job_id=job_id)
        return
    except (Exception, TimeLimitExceeded) as exc:
        permanent = isinstance(exc, PERMANENT_ERRORS)
        if permanent or ctx.attempt >= max_attempts:
            problem = _problem(exc, job_id=job_id, attempts=ctx.attempt)
            with session_scope() as session:
                # Renewed in the same transaction: no other delivery can take the job meanwhile.
                held = job_service.renew_lease(session, job_id=job_id, owner=owner)
                if held:
                    job_service.fail(session, job_id=job_id, problem=problem)
                elif _taken_over(session, job_id):
                    log.warning("job.lease_lost", job_id=job_id, owner=owner, error=_cause(exc))
                    return
            job_ended("failed", problem=problem)
            log.error(
                "job.failed",
                job_id=job_id,
                error=_cause(exc),
                attempt=ctx.attempt,
                permanent=permanent,
                trace_id=problem.get("trace_id"),
            )
            return  # the job is accounted for: ack the message
        with session_scope() as session:
            # Let go, so the retry's delivery can claim the job; the sweeper stands by should it be lost.
            released = job_service.release_lease(
                session,
                job_id=job_id,
                owner=owner,
                seconds=settings.job_max_backoff_seconds + settings.job_claim_timeout_seconds,
            )
            if not released and _taken_over(session, job_id):
                log.warning("job.lease_lost", job_id=job_id, owner=owner, error=_cause(exc))
                return
        log.warning("job.retrying", job_id=job_id, error=_cause(exc), attempt=ctx.attempt)
        raise
    with session_scope() as session:
        held = job_service.renew_lease(session, job_id=job_id, owner=owner)
        if not held and _taken_over(session, job_id):
            log.warning("job.lease_lost", job_id=job_id, owner=owner)
            return
        finished = held and job_service.succeed(session, job_id=job_id)
    job_ended("succeeded" if finished else "canceled")
    log.info(
        "job.completed" if finished else "job.finished_after_cancel",
        job_id=job_id,
        outputs=len(ctx.outputs_written),
        duration_seconds=round(time.monotonic() - started, 3),
    )


def job_actor_options() -> dict[str, Any]:
    """Dramatiq options for a ``<studio>.run_job`` actor, all below RabbitMQ's consumer timeout."""
    settings = get_settings()
    return {
        "time_limit": settings.job_time_limit_seconds * 1000,
        # The database attempt count decides when a job fails; Dramatiq only schedules the retry.
        "max_retries": settings.job_max_attempts + 2,
        "min_backoff": int(settings.job_min_backoff_seconds * 1000),
        "max_backoff": settings.job_max_backoff_seconds * 1000,
        "throws": PERMANENT_ERRORS,
    }
