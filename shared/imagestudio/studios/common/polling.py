"""Asynchronous provider work: the ``<studio>.poll`` chain that finishes a job without holding a delivery.

Asynchronous provider work (Stability's creative upscale and relight, WaveSpeed's edits) never
holds a RabbitMQ delivery while it waits. The delivery that submits stores the ``PendingResult``
in the job's ``params.pending`` and, in the same transaction, stages a ``<studio>.poll`` message
in the outbox on the studio's delay queue (``eta`` = now + ``ASYNC_POLL_INTERVAL_SECONDS``), then
acks. Each poll is one short delivery that either finishes the job or stages the next poll, again
in one transaction with ``pending.seq`` advanced, so a redelivered poll (its successor already
committed) is recognised as stale and dropped, while a crash before that commit leaves the message
to be redelivered: the chain is neither lost nor doubled. ``dramatiq.Retry(delay=...)`` was not
used for this: it re-enqueues outside our transaction (a crash between the two duplicates or loses
the chain), counts every poll against ``max_retries``, and reads as a failure in metrics and in
the dead-letter handling.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from dramatiq.common import dq_name
from pydantic import BaseModel
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderTimeout,
    ProviderWorkFailed,
)
from imagestudio.jobs.models import JobStatus
from imagestudio.jobs.runner import JobCanceled, JobContext, JobDeferred
from imagestudio.jobs.service import job_service
from imagestudio.messaging import POLL_ACTORS, POLL_PRIORITY, PRIORITY_OPTION, RUN_JOB_ACTORS, Studio
from imagestudio.outbox import outbox_service
from imagestudio.providers.execution import CallInfo, provider_executor
from imagestudio.providers.protocols import as_poller
from imagestudio.providers.schemas import PendingResult
from imagestudio.studios.common.produced import Deliver, Produced
from imagestudio.studios.common.routes import Route
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import JOB_DURATION, JOBS_FINISHED
from imagestudio.urls import job_path

log = get_logger(__name__)


class PendingState(BaseModel):
    """``params.pending`` of a job whose provider work is in flight."""

    result: PendingResult
    route: Route
    #: The sequence number the next valid poll message carries.
    seq: int
    polls: int = 0
    #: Failed polls in a row.
    errors: int = 0
    submitted_at: float
    deadline_at: float
    attempts: int = 1
    simulated: bool = False
    fallback_from: list[dict[str, Any]] = []


def poll_actor_options() -> dict[str, Any]:
    """Dramatiq options of a ``<studio>.poll`` actor: one short call per delivery, below the consumer timeout."""
    settings = get_settings()
    return {
        "time_limit": settings.job_time_limit_seconds * 1000,
        "max_retries": 10,
        "min_backoff": int(settings.job_min_backoff_seconds * 1000),
        "max_backoff": settings.job_max_backoff_seconds * 1000,
    }


def _stage_poll(session: Session, *, queue: Studio, job_id: str, seq: int, delay: float) -> None:
    """Stage ``<studio>.poll`` on the studio's delay queue, due in ``delay`` seconds (committed with the caller)."""
    outbox_service.add(
        session,
        queue_name=dq_name(queue.value),
        actor_name=POLL_ACTORS[queue],
        kwargs={"job_id": job_id, "seq": seq},
        # Ahead of every job's start: the job it continues already holds its place.
        options={"eta": int((time.time() + delay) * 1000), PRIORITY_OPTION: POLL_PRIORITY},
    )


def defer(
    ctx: JobContext,
    queue: Studio,
    route: Route,
    pending: PendingResult,
    info: CallInfo,
    fallback_from: list[dict[str, Any]],
) -> NoReturn:
    """Store the submitted work on the job and stage its first poll, in one transaction; the delivery ends."""
    settings = get_settings()
    now = time.time()
    state = PendingState(
        result=pending,
        route=route,
        seq=1,
        submitted_at=now,
        deadline_at=now + settings.async_poll_deadline_seconds,
        attempts=info.attempts,
        simulated=info.simulated,
        fallback_from=fallback_from,
    )
    with session_scope() as session:
        running = job_service.set_progress(
            session,
            job_id=ctx.job_id,
            progress=0.2,
            message=f"{route.provider} {route.model} accepted the work; waiting for it",
        )
        job_service.annotate(session, job_id=ctx.job_id, key="pending", value=state.model_dump(mode="json"))
        if running:
            _stage_poll(
                session,
                queue=queue,
                job_id=ctx.job_id,
                seq=state.seq,
                delay=settings.async_poll_interval_seconds,
            )
    if not running:
        raise JobCanceled(ctx.job_id)
    log.info(
        "job.waiting_on_provider", job_id=ctx.job_id, provider=route.provider, remote_id=pending.remote_id
    )
    raise JobDeferred(ctx.job_id)


def resume(ctx: JobContext, queue: Studio) -> NoReturn:
    """Start a fresh poll chain for work already submitted (older chains become stale)."""
    with session_scope() as session:
        job = job_service.for_worker(session, job_id=ctx.job_id, lock=True)
        raw = job.params.get("pending") if job is not None else None
        if job is None or not isinstance(raw, dict):
            raise JobCanceled(ctx.job_id)
        state = PendingState.model_validate(raw).model_copy(update={"seq": int(raw["seq"]) + 1})
        job_service.annotate(session, job_id=ctx.job_id, key="pending", value=state.model_dump(mode="json"))
        _stage_poll(session, queue=queue, job_id=ctx.job_id, seq=state.seq, delay=0)
    log.info("job.poll_resumed", job_id=ctx.job_id, remote_id=state.result.remote_id)
    raise JobDeferred(ctx.job_id)


def poll_pending(job_id: str, *, seq: int, queue: Studio, deliver: Deliver) -> None:
    """One poll of a job's async provider work: finish the job, or stage the next poll (body of ``<studio>.poll``)."""
    settings = get_settings()
    with session_scope() as session:
        job = job_service.for_worker(session, job_id=job_id)
        if job is None or JobStatus(job.status).terminal:
            return
        raw = job.params.get("pending")
        if not isinstance(raw, dict) or raw.get("seq") != seq:
            log.info("job.poll_stale", job_id=job_id, seq=seq)
            return
        state = PendingState.model_validate(raw)
        ctx = JobContext.for_job(job)
        started_at = job.started_at
    route, pending = state.route, state.result
    try:
        client, simulated = provider_executor().client_for(route.provider)
        images = as_poller(client).poll(pending)
        if images is not None and not images:
            raise ProviderError(
                f"{route.provider} finished {pending.remote_id} without an image", provider=route.provider
            )
    except (ProviderBadRequest, ProviderContentFiltered) as refusal:
        _fail(job_id, refusal, attempts=ctx.attempt, studio=ctx.studio, provider=route.provider)
        return
    except ProviderError as error:
        _poll_failed(ctx, state, error, queue=queue)
        return
    if images is None:
        if time.time() > state.deadline_at:
            timeout = ProviderTimeout(
                f"{route.provider} result {pending.remote_id} not ready after "
                f"{settings.async_poll_deadline_seconds:g} s ({state.polls + 1} polls)",
                provider=route.provider,
            )
            _fail(job_id, timeout, attempts=ctx.attempt, studio=ctx.studio, provider=route.provider)
            return
        polls = state.polls + 1
        _advance(
            job_id,
            seq,
            state.model_copy(update={"seq": seq + 1, "polls": polls, "errors": 0}),
            queue=queue,
            delay=settings.async_poll_interval_seconds,
            progress=0.9 - 0.7 * 0.85**polls,
            message=f"waiting for {route.provider} {route.model} (poll {polls})",
        )
        return
    produced = Produced.from_image(
        images[0],
        route,
        attempts=state.attempts,
        simulated=simulated() or state.simulated,
        seconds=time.time() - state.submitted_at,
        fallback_from=state.fallback_from,
        remote_id=pending.remote_id,
    )
    try:
        deliver(ctx, produced)
    except JobCanceled:
        return
    with session_scope() as session:
        finished = job_service.succeed(session, job_id=job_id)
        if finished:
            summary = {"provider": route.provider, "remote_id": pending.remote_id, "polls": state.polls + 1}
            job_service.annotate(session, job_id=job_id, key="pending", value=None)
            job_service.annotate(session, job_id=job_id, key="provider_work", value=summary)
    if finished:
        JOBS_FINISHED.labels(ctx.studio, "succeeded", "", route.provider).inc()
        if started_at is not None:
            JOB_DURATION.labels(ctx.studio).observe(max(0.0, time.time() - started_at.timestamp()))
    log.info(
        "job.completed" if finished else "job.finished_after_cancel", job_id=job_id, polls=state.polls + 1
    )


def _poll_failed(ctx: JobContext, state: PendingState, error: ProviderError, *, queue: Studio) -> None:
    """A failed poll: poll the same work again later, until its deadline.

    Only work that ended failed at the provider (``ProviderWorkFailed``) is submitted again, on a
    new delivery: a 429, 5xx or timeout of the poll itself says nothing about the work, which may
    still be running and billed, so it is never re-posted for one.
    """
    settings = get_settings()
    errors = state.errors + 1
    log.warning(
        "provider.poll_failed",
        job_id=ctx.job_id,
        provider=state.route.provider,
        errors=errors,
        error=error.detail,
    )
    if time.time() >= state.deadline_at:
        _fail(ctx.job_id, error, attempts=ctx.attempt, studio=ctx.studio, provider=state.route.provider)
        return
    if not isinstance(error, ProviderWorkFailed):
        retry_after = getattr(error, "retry_after", None) or 0.0
        backoff = settings.async_poll_interval_seconds * 2 ** min(errors - 1, 6)
        delay = max(settings.async_poll_interval_seconds, min(max(retry_after, backoff), 60.0))
        _advance(
            ctx.job_id,
            state.seq,
            state.model_copy(update={"seq": state.seq + 1, "polls": state.polls + 1, "errors": errors}),
            queue=queue,
            delay=delay,
            progress=None,
            message=f"{state.route.provider} poll failed ({error.title.lower()}); retrying",
        )
        return
    if ctx.attempt < ctx.max_attempts:
        # The work itself failed at the provider: a new delivery submits it again.
        with session_scope() as session:
            job = job_service.for_worker(session, job_id=ctx.job_id, lock=True)
            if (
                job is None
                or JobStatus(job.status).terminal
                or (job.params.get("pending") or {}).get("seq") != state.seq
            ):
                return
            job_service.annotate(session, job_id=ctx.job_id, key="pending", value=None)
            outbox_service.add(
                session,
                queue_name=dq_name(queue.value),
                actor_name=RUN_JOB_ACTORS[ctx.studio],
                kwargs={"job_id": ctx.job_id, "inputs": ctx.inputs},
                options={"eta": int((time.time() + settings.job_min_backoff_seconds) * 1000)},
            )
        log.warning("job.resubmitting", job_id=ctx.job_id, provider=state.route.provider)
        return
    _fail(ctx.job_id, error, attempts=ctx.attempt, studio=ctx.studio, provider=state.route.provider)


def _advance(
    job_id: str,
    seq: int,
    state: PendingState,
    *,
    queue: Studio,
    delay: float,
    progress: float | None,
    message: str,
) -> None:
    """Store the next poll's state and stage its message, unless another delivery got there first."""
    with session_scope() as session:
        job = job_service.for_worker(session, job_id=job_id, lock=True)
        if (
            job is None
            or JobStatus(job.status).terminal
            or (job.params.get("pending") or {}).get("seq") != seq
        ):
            return
        job_service.annotate(session, job_id=job_id, key="pending", value=state.model_dump(mode="json"))
        fraction = job.progress if progress is None else progress
        if job_service.set_progress(session, job_id=job_id, progress=round(fraction, 4), message=message):
            _stage_poll(session, queue=queue, job_id=job_id, seq=state.seq, delay=delay)


def _fail(job_id: str, error: ProviderError, *, attempts: int, studio: str, provider: str) -> None:
    problem = error.to_problem(instance=job_path(job_id))
    problem["attempts"] = attempts
    with session_scope() as session:
        failed = job_service.fail(session, job_id=job_id, problem=problem)
    if failed:
        reason = str(problem.get("type", "")).rsplit("/", 1)[-1]
        JOBS_FINISHED.labels(studio, "failed", reason, provider).inc()
    log.error("job.failed", job_id=job_id, error=error.detail, provider=provider)
