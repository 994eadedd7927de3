"""The Dramatiq telemetry middleware: outcomes, reasons, retries and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dramatiq
from dramatiq.broker import MessageProxy
from prometheus_client import REGISTRY
from support import Embedded, stub_broker, submit_social_job

from imagestudio.errors import ValidationFailed
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.telemetry.middleware import TelemetryMiddleware, job_claimed, job_ended, job_provider


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def finished(status: str, reason: str = "", provider: str = "", studio: str = "social") -> float:
    return value(
        "imagestudio_jobs_finished_total", studio=studio, status=status, reason=reason, provider=provider
    )


def message(actor: str = "social.run_job") -> MessageProxy:
    return MessageProxy(
        dramatiq.Message(queue_name="social", actor_name=actor, args=(), kwargs={"job_id": "j-1"}, options={})
    )


def claim(studio: str = "social", attempt: int = 1) -> None:
    created = datetime.now(UTC) - timedelta(seconds=3)
    job_claimed(
        job_id="j-1", studio=studio, attempt=attempt, created_at=created, started_at=datetime.now(UTC)
    )


def test_failed_job_is_counted_with_its_problem_type_and_provider(embedded: Embedded) -> None:
    _, tenant_id = embedded.new_tenant()
    job_id = submit_social_job(tenant_id)

    def refuse(ctx: JobContext) -> None:
        job_provider("stability")
        raise ValidationFailed("prompt", "refused")

    before = finished("failed", "validation-failed", "stability")
    run_job(job_id, refuse)
    assert finished("failed", "validation-failed", "stability") == before + 1


def test_retry_then_give_up_counts_retry_dead_letter_and_abandoned_job() -> None:
    broker = stub_broker()
    middleware = TelemetryMiddleware()
    retries = value("imagestudio_message_retries_total", queue="social", actor="social.run_job")
    errors = value("imagestudio_message_errors_total", queue="social", actor="social.run_job")
    abandoned = finished("failed", "job-abandoned")

    first = message()
    middleware.before_process_message(broker, first)
    claim()
    middleware.after_process_message(broker, first, exception=RuntimeError("provider timeout"))
    assert value("imagestudio_message_retries_total", queue="social", actor="social.run_job") == retries + 1
    assert finished("failed", "job-abandoned") == abandoned

    last = message()
    middleware.before_process_message(broker, last)
    claim(attempt=2)
    last.fail()  # what Retries does when it gives up
    middleware.after_process_message(broker, last, exception=RuntimeError("provider timeout"))
    dead = value("imagestudio_messages_dead_lettered_total", queue="social", actor="social.run_job")
    middleware.after_nack(broker, last)
    assert (
        value("imagestudio_messages_dead_lettered_total", queue="social", actor="social.run_job") == dead + 1
    )
    assert value("imagestudio_message_retries_total", queue="social", actor="social.run_job") == retries + 1
    assert value("imagestudio_message_errors_total", queue="social", actor="social.run_job") == errors + 2
    assert finished("failed", "job-abandoned") == abandoned + 1
    assert value("imagestudio_messages_in_progress", queue="social", actor="social.run_job") == 0


def test_job_ended_once_per_delivery_and_not_outside_one() -> None:
    broker = stub_broker()
    middleware = TelemetryMiddleware()
    before = finished("succeeded", studio="edit")
    proxy = message("edit.run_job")
    middleware.before_process_message(broker, proxy)
    job_ended("succeeded")  # nothing claimed yet: nothing to count
    claim(studio="edit")
    job_ended("succeeded")
    job_ended("succeeded")
    middleware.after_process_message(broker, proxy)
    job_ended("succeeded")  # after the delivery: forgotten
    assert finished("succeeded", studio="edit") == before + 1


def test_queued_time_is_observed_on_the_first_claim_only() -> None:
    count = value("imagestudio_job_queued_seconds_count", studio="upscale")
    total = value("imagestudio_job_queued_seconds_sum", studio="upscale")
    claim(studio="upscale", attempt=1)
    claim(studio="upscale", attempt=2)
    assert value("imagestudio_job_queued_seconds_count", studio="upscale") == count + 1
    assert 2.5 < value("imagestudio_job_queued_seconds_sum", studio="upscale") - total < 30


def test_skipped_message_leaves_nothing_in_progress() -> None:
    broker = stub_broker()
    middleware = TelemetryMiddleware()
    proxy = message("create.run_job")
    middleware.before_process_message(broker, proxy)
    assert value("imagestudio_messages_in_progress", queue="social", actor="create.run_job") == 1
    middleware.after_skip_message(broker, proxy)
    assert value("imagestudio_messages_in_progress", queue="social", actor="create.run_job") == 0
