"""What the edit and upscale studios share: limits, routes (provider or local), provider calls, async polls.

Provider calls run on the one provider-call engine (:class:`imagestudio.providers.execution.ProviderExecutor`)
that create uses too: its configured-or-simulated endpoints and pooled clients, the database-backed
circuit breaker, retries with backoff and Retry-After honoured up to ``PROVIDER_MAX_WAIT_SECONDS``.

::

    ImageLimits, check_request_bytes   a provider's (or the local path's) input limits, 413/422 naming the field
    Route, plan_routes()               the paths a request may take, in order, decided at submission
    provider_status()                  configured here? circuit closed? (the gateway's view)
    serve()                            run the routes in order: provider (retries, breaker, fallback) then local
    verify_inputs()                    the worker's one decode of the uploads; what a provider is sent
    poll_pending()                     body of the ``<studio>.poll`` actors

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

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, TypeVar

import dramatiq
from dramatiq.common import dq_name
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.errors import (
    ImageStudioError,
    ImageTooLarge,
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderTimeout,
    ValidationFailed,
)
from imagestudio.jobs.models import JobStatus
from imagestudio.jobs.runner import JobCanceled, JobContext, JobDeferred
from imagestudio.jobs.service import job_service
from imagestudio.messaging import POLL_ACTORS, RUN_JOB_ACTORS, Queue
from imagestudio.outbox import outbox_service
from imagestudio.providers.directory import provider_directory
from imagestudio.providers.execution import CallInfo, ProviderExecutor, long_retry_after, provider_executor
from imagestudio.providers.health import provider_health
from imagestudio.providers.http import describe_image
from imagestudio.providers.protocols import as_poller
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.studios.pricing import Estimate, EstimateItem
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import (
    JOB_DURATION,
    JOBS_FINISHED,
)
from imagestudio.urls import job_path

log = get_logger(__name__)

T = TypeVar("T")

#: The route name of the local (no-provider) path.
LOCAL = "local"
#: Stability refuses requests over 10 MiB (413); we refuse them first, naming the field.
PROVIDER_MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: Room left in a provider request for the multipart framing and text fields.
_FORM_OVERHEAD_BYTES = 64 * 1024
#: Aspect range (width / height) Stability accepts on outpaint, search, relight and conservative.
STABILITY_ASPECT = (1 / 2.5, 2.5)

Path = Literal["auto", "provider", "local"]
_EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_FORMAT_OF = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


# --- limits -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImageLimits:
    """Input sizes one path accepts (a provider's published limits, or what the local code can hold)."""

    min_side: int = 64
    max_side: int | None = None
    min_pixels: int = 4_096
    max_pixels: int = 9_437_184
    #: (smallest, largest) width / height, or None for any shape.
    aspect: tuple[float, float] | None = None

    def check(self, *, field: str, width: int, height: int, who: str) -> None:
        """Raise 413 (too large) or 422 (too small, wrong shape) naming ``field``."""
        pixels = width * height
        if self.max_side is not None and max(width, height) > self.max_side:
            raise ImageTooLarge(
                field, f"{width}x{height} has a side over {who}'s {self.max_side:,} pixel limit"
            )
        if pixels > self.max_pixels:
            raise ImageTooLarge(
                field, f"{width}x{height} = {pixels:,} pixels is over {who}'s {self.max_pixels:,} pixel limit"
            )
        if min(width, height) < self.min_side:
            raise ValidationFailed(
                field, f"{width}x{height} has a side under {who}'s {self.min_side} pixel minimum"
            )
        if pixels < self.min_pixels:
            raise ValidationFailed(
                field,
                f"{width}x{height} = {pixels:,} pixels is under {who}'s {self.min_pixels:,} pixel minimum",
            )
        if self.aspect is not None:
            low, high = self.aspect
            ratio = width / height
            if not low - 1e-9 <= ratio <= high + 1e-9:
                raise ValidationFailed(
                    field,
                    f"{width}x{height} has an aspect ratio of {ratio:.2f}:1; {who} accepts "
                    f"{_ratio_label(low)} to {_ratio_label(high)}",
                )

    def describe(self) -> dict[str, Any]:
        return {
            "min_side": self.min_side,
            "max_side": self.max_side,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "aspect_ratio": (
                None
                if self.aspect is None
                else f"{_ratio_label(self.aspect[0])} to {_ratio_label(self.aspect[1])}"
            ),
        }


def _ratio_label(ratio: float) -> str:
    return f"{ratio:g}:1" if ratio >= 1 else f"1:{1 / ratio:g}"


def check_request_bytes(sizes: dict[str, int], *, who: str) -> None:
    """413 naming the largest upload when the provider request would pass its 10 MiB limit."""
    total = sum(sizes.values()) + _FORM_OVERHEAD_BYTES
    if total > PROVIDER_MAX_REQUEST_BYTES:
        largest = max(sizes, key=lambda name: sizes[name])
        parts = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
        raise ImageTooLarge(
            largest,
            f"the request to {who} would be about {total:,} bytes ({parts}); "
            f"{who} accepts at most {PROVIDER_MAX_REQUEST_BYTES:,} bytes (10 MiB)",
        )


# --- routes -----------------------------------------------------------------------------------


class Route(BaseModel):
    """One way a job may be served: a provider endpoint or the local path."""

    model_config = ConfigDict(frozen=True)

    #: ``stability``, ``wavespeed`` or ``local``.
    provider: str
    #: The provider's model or endpoint (``edit/inpaint``, ``qwen-edit``) or ``local/<operation>``.
    model: str
    credits: int
    asynchronous: bool = False

    @property
    def local(self) -> bool:
        return self.provider == LOCAL


@dataclass(frozen=True)
class ProviderStatus:
    """A provider as the gateway sees it."""

    configured: bool
    healthy: bool
    simulated: bool | None = None


def provider_status(name: str) -> ProviderStatus:
    """Configured here (key or simulator), and whether its shared circuit is closed."""
    if provider_directory.endpoint(name) is None:
        return ProviderStatus(configured=False, healthy=False)
    health, simulated = provider_health()[name]
    return ProviderStatus(configured=True, healthy=health["state"] != "open", simulated=simulated)


def plan_routes(
    *,
    path: Path,
    what: str,
    provider: Route | None,
    local: Route | None,
    provider_refusal: ImageStudioError | None,
    local_refusal: ImageStudioError | None,
    allowed: Collection[str],
    status: Callable[[str], ProviderStatus] = provider_status,
) -> tuple[list[Route], list[dict[str, str]]]:
    """The routes to try, in order, and why any was left out; raises when none can serve.

    ``auto`` takes the provider when it is configured, allowed by the tier, healthy and the inputs
    are within its limits, with the local path (when the operation has one and the inputs suit
    it) as the fallback; when the provider is skipped the local path serves alone.
    """
    if path == "local":
        if local is None:
            raise ValidationFailed("path", f"{what} has no local path; use path=provider or auto")
        if local_refusal is not None:
            raise local_refusal
        return [local], []
    if path == "provider":
        if provider is None:
            raise ValidationFailed("path", f"{what} has no provider path; use path=local or auto")
        if not status(provider.provider).configured:
            raise ValidationFailed("path", _not_configured(provider.provider))
        if provider_refusal is not None:
            raise provider_refusal
        return [provider], []  # a tier without this provider is refused (403) at submission

    routes: list[Route] = []
    skipped: list[dict[str, str]] = []
    local_ok = local is not None and local_refusal is None
    if provider is not None:
        state = status(provider.provider)
        reason = None
        if not state.configured:
            reason = "not configured"
        elif provider.provider not in allowed:
            reason = "not included in the tenant's tier"
        elif provider_refusal is not None:
            reason = provider_refusal.detail
        elif not state.healthy and local_ok:
            reason = "circuit open (the provider has been failing)"
        if reason is None:
            routes.append(provider)
        else:
            skipped.append({"provider": provider.provider, "model": provider.model, "reason": reason})
    if local is not None and local_refusal is None:
        routes.append(local)
    if routes:
        return routes, skipped
    if provider is not None and status(provider.provider).configured:
        if provider_refusal is not None:
            raise provider_refusal
        return [provider], skipped  # not in the tier: submission answers the tier's 403
    if local is not None and local_refusal is not None:
        raise local_refusal
    if provider is None:
        raise ValidationFailed("path", f"{what} has no path available here")
    raise ValidationFailed(
        "path", f"{what} needs {_not_configured(provider.provider)}, and it has no local path"
    )


def _not_configured(provider: str) -> str:
    return f"{provider} is not configured here (set IMAGESTUDIO_{provider.upper()}_API_KEY)"


# --- provider calls ---------------------------------------------------------------------------


def call_provider(
    route: Route, call: Callable[[ProviderClient], T], *, checkpoint: Callable[[str], None]
) -> tuple[T, CallInfo]:
    """One provider operation through the engine (retries, Retry-After, the shared circuit breaker)."""
    return provider_executor().call(
        route.provider, call, what=f"{route.provider} {route.model}", checkpoint=checkpoint
    )


# --- serving a job ----------------------------------------------------------------------------


@dataclass
class Produced:
    """One output image and how it was obtained."""

    data: bytes
    content_type: str
    width: int
    height: int
    route: Route
    seed: int | None = None
    attempts: int = 1
    simulated: bool = False
    seconds: float = 0.0
    fallback_from: list[dict[str, Any]] = field(default_factory=list)
    remote_id: str | None = None

    @classmethod
    def from_image(
        cls,
        image: GeneratedImage,
        route: Route,
        *,
        attempts: int,
        simulated: bool,
        seconds: float,
        fallback_from: list[dict[str, Any]],
        remote_id: str | None = None,
    ) -> Produced:
        return cls(
            data=image.data,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            route=route,
            seed=image.seed,
            attempts=attempts,
            simulated=simulated,
            seconds=seconds,
            fallback_from=fallback_from,
            remote_id=remote_id,
        )

    @classmethod
    def local_output(
        cls, data: bytes, route: Route, *, seconds: float, fallback_from: list[dict[str, Any]]
    ) -> Produced:
        width, height, content_type = describe_image(data, provider=LOCAL)
        return cls(
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            route=route,
            seconds=seconds,
            fallback_from=fallback_from,
        )

    def metadata(self) -> dict[str, Any]:
        """What every edit/upscale output records about its making."""
        return {
            "path": LOCAL if self.route.local else "provider",
            "provider": self.route.provider,
            "model": self.route.model,
            "simulated": self.simulated,
            "credits": self.route.credits,
            "attempts": self.attempts,
            "fallback_from": self.fallback_from,
            "seed": self.seed,
            "remote_id": self.remote_id,
            "seconds": round(self.seconds, 3),
        }


Deliver = Callable[[JobContext, Produced], None]


def in_format(produced: Produced, output_format: str, *, quality: int = 92) -> tuple[bytes, str, str, str]:
    """The output in the asked format: (data, content type, format, extension); re-encoded only if needed."""
    if _FORMAT_OF.get(produced.content_type) == output_format:
        return produced.data, produced.content_type, output_format, _EXT[output_format]
    from imagestudio.imaging import CONTENT_TYPES, SourceImage, encode

    source = SourceImage.load(produced.data, max_pixels=get_settings().max_image_pixels)
    data, _, _ = encode(source.image, output_format=output_format, quality=quality)  # type: ignore[arg-type]
    return data, CONTENT_TYPES[output_format], output_format, _EXT[output_format]


def serve(
    ctx: JobContext,
    routes: Sequence[Route],
    *,
    queue: Queue,
    inputs: Mapping[str, bytes],
    local: Callable[[Route], bytes],
    provider: Callable[[ProviderClient, Route, Mapping[str, bytes]], GeneratedImage | PendingResult],
    deliver: Deliver,
) -> None:
    """Serve the job on the first route that works; raises ``JobDeferred`` once async work is submitted.

    A provider that fails transiently (retries spent, circuit open, a long Retry-After) hands
    over to the next route; a refusal (bad request, content filter) fails the job at once. With
    no route left, a long Retry-After re-schedules the delivery instead of sleeping in it.
    ``inputs`` (the uploads, by field) are decoded once before the first provider call: the
    gateway read only their headers, and a truncated or corrupt file must fail the job with
    ``InvalidImage`` (permanent) rather than reach a provider; ``provider`` is called with the
    inputs as a provider reads them (``imaging.provider_ready``). A local route decodes them itself.
    """
    if isinstance(ctx.params.get("pending"), dict):
        _resume(ctx, queue)  # a redelivery after the async work was submitted: never submit twice
    fallback_from: list[dict[str, Any]] = []
    ready: Mapping[str, bytes] | None = None

    def checkpoint(message: str) -> None:
        ctx.progress(0.1, message)

    for index, route in enumerate(routes):
        if route.local:
            checkpoint(f"processing locally ({route.model})")
            started = time.perf_counter()
            data = local(route)
            deliver(
                ctx,
                Produced.local_output(
                    data, route, seconds=time.perf_counter() - started, fallback_from=fallback_from
                ),
            )
            return

        if ready is None:
            ready = verify_inputs(inputs)  # outside the retry loop: a damaged file is not a transient error

        def call(
            client: ProviderClient, route: Route = route, ready: Mapping[str, bytes] = ready
        ) -> GeneratedImage | PendingResult:
            return provider(client, route, ready)

        try:
            result, info = call_provider(route, call, checkpoint=checkpoint)
        except (ProviderBadRequest, ProviderContentFiltered):
            raise
        except ProviderError as error:
            if index < len(routes) - 1:
                fallback_from.append(ProviderExecutor.gave_up(ctx.studio, route.provider, route.model, error))
                continue
            _reschedule_or_raise(ctx, error)
        if isinstance(result, PendingResult):
            _defer(ctx, queue, route, result, info, fallback_from)
        deliver(
            ctx,
            Produced.from_image(
                result,
                route,
                attempts=info.attempts,
                simulated=info.simulated,
                seconds=info.seconds,
                fallback_from=fallback_from,
            ),
        )
        return
    raise ValidationFailed("path", "the job has no route to run")  # prepare() never stores such a job


def verify_inputs(inputs: Mapping[str, bytes]) -> dict[str, bytes]:
    """Decode each upload once; ``InvalidImage`` naming its field when one is truncated or corrupt.

    Returns the uploads as a provider is sent them: upright JPEG, PNG or WebP (see ``provider_ready``).
    """
    from imagestudio.imaging import provider_ready

    max_pixels = get_settings().max_image_pixels
    return {
        field_name: provider_ready(data, max_pixels=max_pixels, field=field_name)
        for field_name, data in inputs.items()
    }


def _reschedule_or_raise(ctx: JobContext, error: ProviderError) -> NoReturn:
    settings = get_settings()
    retry_after = long_retry_after(error)
    if retry_after is not None and ctx.attempt < ctx.max_attempts:
        # Too long to hold a worker thread: hand the message back to the broker's delay queue.
        delay = min(retry_after, settings.job_max_backoff_seconds)
        raise dramatiq.Retry(f"{error.detail}; retrying in {delay:g} s", delay=int(delay * 1000)) from error
    raise error


# --- asynchronous provider work ---------------------------------------------------------------


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


def _stage_poll(session: Session, *, queue: Queue, job_id: str, seq: int, delay: float) -> None:
    """Stage ``<studio>.poll`` on the studio's delay queue, due in ``delay`` seconds (committed with the caller)."""
    outbox_service.add(
        session,
        queue_name=dq_name(queue.value),
        actor_name=POLL_ACTORS[queue],
        kwargs={"job_id": job_id, "seq": seq},
        options={"eta": int((time.time() + delay) * 1000)},
    )


def _defer(
    ctx: JobContext,
    queue: Queue,
    route: Route,
    pending: PendingResult,
    info: CallInfo,
    fallback_from: list[dict[str, Any]],
) -> NoReturn:
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


def _resume(ctx: JobContext, queue: Queue) -> NoReturn:
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


def poll_pending(job_id: str, *, seq: int, queue: Queue, deliver: Deliver) -> None:
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


def _poll_failed(ctx: JobContext, state: PendingState, error: ProviderError, *, queue: Queue) -> None:
    """A failed poll: try again later; after too many in a row, resubmit on a new delivery or fail."""
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
    if errors < settings.provider_max_attempts:
        retry_after = getattr(error, "retry_after", None) or 0.0
        delay = max(settings.async_poll_interval_seconds, min(retry_after, 60.0))
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
        # The work itself failed (or the provider lost it): a new delivery submits it again.
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
    queue: Queue,
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


def credits_of(routes: Sequence[Route]) -> int:
    """Credits held for a job: the dearest route it may take (only what it used is captured)."""
    return max((route.credits for route in routes), default=0)


def estimate_routes(studio: str, what: str, routes: Sequence[Route]) -> Estimate:
    """``POST /estimate-cost`` for planned routes: the first one's credits, held at the dearest."""
    first, held = routes[0], credits_of(routes)
    note = f"; held at {held}, the dearest fallback, and charged only for the route that serves"
    return Estimate(
        studio=studio,
        total_credits=first.credits,
        max_credits=held,
        breakdown=[
            EstimateItem(
                item=f"{what} via {first.provider}{note if held > first.credits else ''}",
                provider=first.provider,
                model=first.model,
                unit_credits=first.credits,
                count=1,
                credits=first.credits,
            )
        ],
    )


def whole_credits(value: float) -> int:
    return math.ceil(value)
