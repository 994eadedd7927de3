"""The workers' Dramatiq middleware: metrics and a trace span around every message.

Message metrics and spans live in before/after hooks, not in actor bodies. The job runner only
reports facts it alone knows — :func:`job_claimed`, :func:`job_ended` and a studio's
:func:`job_provider` — which become the ``imagestudio_jobs_*`` samples and span attributes; a job
whose message Dramatiq gives up on is counted by the after hook. A worker thread handles one
message at a time and Dramatiq calls a message's hooks on that thread, so the state is
thread-local.

Placed before ``Retries`` in the broker's list: after-hooks run in reverse order, so ours see
whether Retries scheduled the message again or gave it up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from imagestudio.telemetry import tracing
from imagestudio.telemetry.metrics import (
    JOB_DURATION,
    JOB_QUEUED,
    JOBS_FINISHED,
    JOBS_STARTED,
    MESSAGE_DURATION,
    MESSAGE_ERRORS,
    MESSAGE_RETRIES,
    MESSAGES,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_IN_PROGRESS,
)

#: Actor-name suffix of the job actors whose outcome is a job's (``social.run_job``).
JOB_ACTOR_SUFFIX = ".run_job"


@dataclass
class _Delivery:
    """What the hooks know about the message this thread is processing."""

    queue: str
    actor: str
    started: float
    span: trace.Span | None = None
    token: object | None = None


@dataclass
class _Job:
    """What the runner reported about the job this thread is running."""

    studio: str
    claimed: float
    provider: str = ""
    ended: bool = False


_local = threading.local()


def _delivery() -> _Delivery | None:
    return getattr(_local, "delivery", None)


def _job() -> _Job | None:
    return getattr(_local, "job", None)


# --- facts reported by the job runner and the studios ------------------------------------------
def job_claimed(
    *, job_id: str, studio: str, attempt: int, created_at: datetime, started_at: datetime | None
) -> None:
    """A worker claimed a job: count the start and, on the first claim, the time it sat queued."""
    JOBS_STARTED.labels(studio).inc()
    if attempt == 1 and started_at is not None:
        JOB_QUEUED.labels(studio).observe(max(0.0, (started_at - created_at).total_seconds()))
    _local.job = _Job(studio=studio, claimed=time.monotonic())
    tracing.set_attributes(job_id=job_id, studio=studio, attempt=attempt)


def job_provider(provider: str) -> None:
    """The provider that served (or last failed) the current job; labels its outcome."""
    job = _job()
    if job is not None:
        job.provider = provider
    tracing.set_attributes(provider=provider)


def job_ended(status: str, *, problem: dict[str, Any] | None = None) -> None:
    """The current job reached ``status`` (succeeded, failed, canceled) in this delivery."""
    job = _job()
    if job is None or job.ended:
        return
    job.ended = True
    reason = str(problem.get("type", "")).rsplit("/", 1)[-1] if problem else ""
    JOBS_FINISHED.labels(job.studio, status, reason, job.provider).inc()
    JOB_DURATION.labels(job.studio).observe(time.monotonic() - job.claimed)
    tracing.set_attributes(job_status=status, failure_reason=reason or None)
    if status == "failed" and tracing.tracing_enabled():
        trace.get_current_span().set_status(Status(StatusCode.ERROR, reason))


# --- the middleware --------------------------------------------------------------------------------
class TelemetryMiddleware(dramatiq.Middleware):
    """Counts, times and traces every message a worker processes."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        queue = q_name(message.queue_name)
        delivery = _Delivery(queue=queue, actor=message.actor_name, started=time.monotonic())
        MESSAGES_IN_PROGRESS.labels(queue, message.actor_name).inc()
        if tracing.tracing_enabled():
            # The producer's context from the outbox row: this span joins the request's trace.
            carrier = message.options.get(tracing.CONTEXT_OPTION) or {}
            attributes: dict[str, str | int] = {
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": queue,
                "messaging.message.id": message.message_id,
                "imagestudio.retries": int(message.options.get("retries", 0)),
            }
            if job_id := message.kwargs.get("job_id"):
                attributes[tracing.JOB_ID_ATTRIBUTE] = str(job_id)
            delivery.span = tracing.get_tracer().start_span(
                message.actor_name, context=extract(carrier), kind=SpanKind.CONSUMER, attributes=attributes
            )
            delivery.token = otel_context.attach(trace.set_span_in_context(delivery.span))
        _local.delivery, _local.job = delivery, None

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        delivery, job = _delivery(), _job()
        _local.delivery = _local.job = None
        if delivery is None:
            return
        labels = (delivery.queue, delivery.actor)
        MESSAGES.labels(*labels).inc()
        MESSAGE_DURATION.labels(*labels).observe(time.monotonic() - delivery.started)
        MESSAGES_IN_PROGRESS.labels(*labels).dec()
        if exception is not None:
            MESSAGE_ERRORS.labels(*labels).inc()
            if not message.failed:
                MESSAGE_RETRIES.labels(*labels).inc()
            elif job is not None and not job.ended and delivery.actor.endswith(JOB_ACTOR_SUFFIX):
                # Retries gave up: FailJobWhenMessageDies fails the job with this reason.
                JOBS_FINISHED.labels(job.studio, "failed", "job-abandoned", job.provider).inc()
        self._end_span(delivery, exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        delivery = _delivery()
        _local.delivery = _local.job = None
        if delivery is not None:
            MESSAGES_IN_PROGRESS.labels(delivery.queue, delivery.actor).dec()
            self._end_span(delivery, None)

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        MESSAGES_DEAD_LETTERED.labels(q_name(message.queue_name), message.actor_name).inc()

    @staticmethod
    def _end_span(delivery: _Delivery, exception: BaseException | None) -> None:
        if delivery.span is None:
            return
        if exception is not None:
            delivery.span.record_exception(exception)
            delivery.span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        delivery.span.end()
        if delivery.token is not None:
            otel_context.detach(delivery.token)  # type: ignore[arg-type]
