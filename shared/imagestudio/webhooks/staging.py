"""Staging events: one delivery row and its ``webhooks.deliver`` message per receiver, in the caller's transaction.

A job transition calls ``stage_job_event`` inside its own transaction: the delivery rows and
their messages are written to the outbox with the new job status, so an event is never lost and
never sent for a transition that rolled back. A wait longer than RabbitMQ's consumer timeout
cannot ride on one delayed message, so each message carries at most
``webhook_max_message_delay_seconds`` (``delivery.py`` re-stages an early arrival); a sweeper
(``requeue_pending``) re-stages the rare delivery whose message was lost.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dramatiq.common import dq_name
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import new_id, utcnow
from imagestudio.jobs.models import Job
from imagestudio.messaging import WEBHOOKS_DELIVER, WEBHOOKS_QUEUE
from imagestudio.outbox.service import outbox_service
from imagestudio.telemetry.logging import get_logger
from imagestudio.urls import job_path
from imagestudio.webhooks.endpoints import EndpointService
from imagestudio.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEventType
from imagestudio.webhooks.repository import webhook_repository
from imagestudio.webhooks.schemas import WebhookEvent, WebhookJobData

log = get_logger(__name__)

#: Share of each retry delay drawn at random (±), so receivers coming back are not stampeded.
RETRY_JITTER = 0.1
#: Longest ``Retry-After`` honoured: a receiver cannot park a delivery for ever.
MAX_RETRY_AFTER_SECONDS = 24 * 3600
#: A pending delivery this far past its time has lost its message; the sweeper stages a new one.
OVERDUE_SECONDS = 300.0
#: Deliveries one sweep re-stages.
SWEEP_BATCH = 500


def new_message_id() -> str:
    # The webhook-id header: no "." (the signed content is "{id}.{timestamp}.{body}").
    return "msg_" + uuid.uuid4().hex


def retry_delay(step: int, *, schedule: Sequence[float], retry_after: float | None = None) -> float | None:
    """Seconds before attempt ``step`` (0-based) with jitter; None when the schedule is spent."""
    if step >= len(schedule):
        return None
    delay = schedule[step] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


class StagingService:
    """Stages deliveries and their messages, to the endpoints ``endpoints`` knows."""

    def __init__(self, endpoints: EndpointService) -> None:
        self._endpoints = endpoints

    # --- staging events (called by the job state machine) ----------------------------------------
    def may_have_endpoints(self, session: Session, *, tenant_id: str) -> bool:
        """False when the tenant has no enabled endpoint (remembered for a few seconds, as staging does)."""
        return bool(self._endpoints.enabled_endpoints(session, tenant_id=tenant_id))

    def stage_job_event(
        self, session: Session, *, job: Job, event_type: str, subscribed: bool | None = None
    ) -> int:
        """Stage one delivery per receiver of this job event, in the caller's transaction.

        ``subscribed=False`` says the job has no webhook of its own (the gateway knows at submit),
        which saves the look-up.
        """
        kind = WebhookEventType(event_type)
        targets: list[tuple[str | None, str]] = [
            (endpoint.id, endpoint.url)
            for endpoint in self._endpoints.enabled_endpoints(session, tenant_id=job.tenant_id)
            if not endpoint.event_types or kind.value in endpoint.event_types
        ]
        subscription = None if subscribed is False else webhook_repository.job_webhook(session, job_id=job.id)
        if subscription is not None and (
            not subscription.event_types or kind.value in subscription.event_types
        ):
            targets.append((None, subscription.url))
        if not targets:
            return 0
        payload = self._payload(job, kind)
        now = utcnow()
        for endpoint_id, url in targets:
            delivery = WebhookDelivery(
                id=new_message_id(),
                tenant_id=job.tenant_id,
                endpoint_id=endpoint_id,
                job_id=job.id,
                url=url,
                event_type=kind.value,
                payload=payload,
                status=DeliveryStatus.pending.value,
                attempts=0,
                step=0,
                token=new_id(),
                created_at=now,
            )
            delay = retry_delay(0, schedule=get_settings().webhook_retry_schedule_seconds) or 0.0
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            session.add(delivery)
            self.stage_message(session, delivery)
        return len(targets)

    def _payload(self, job: Job, kind: WebhookEventType) -> dict[str, Any]:
        status = kind.value.removeprefix("job.")
        data = WebhookJobData(
            id=job.id,
            status=status,
            studio=job.studio,
            created_at=job.created_at,
            finished_at=job.finished_at if status in ("succeeded", "failed", "canceled", "expired") else None,
            error=job.error if kind is WebhookEventType.failed else None,
            links={"self": f"{get_settings().base_url}{job_path(job.id)}"},
        )
        return WebhookEvent(type=kind, timestamp=utcnow(), data=data).model_dump(mode="json")

    def stage_message(
        self, session: Session, delivery: WebhookDelivery, *, at: datetime | None = None
    ) -> None:
        """Stage the delivery's next ``webhooks.deliver`` message, due at ``at`` (or next_attempt_at)."""
        settings = get_settings()
        now = utcnow()
        due = at or delivery.next_attempt_at or now
        wait = (due - now).total_seconds()
        queue_name, options = WEBHOOKS_QUEUE, {}
        if wait > 0:
            # Capped below RabbitMQ's consumer timeout: a longer wait is re-staged on arrival. Delayed
            # messages ride the delay queue so they never hold prefetch slots that due ones need.
            eta = now + timedelta(seconds=min(wait, settings.webhook_max_message_delay_seconds))
            queue_name, options = dq_name(queue_name), {"eta": int(eta.timestamp() * 1000)}
        outbox_service.add(
            session,
            queue_name=queue_name,
            actor_name=WEBHOOKS_DELIVER,
            kwargs={"delivery_id": delivery.id, "token": delivery.token},
            options=options,
        )

    def requeue_pending(self, session: Session, *, overdue_seconds: float | None = OVERDUE_SECONDS) -> int:
        """Stage a fresh message for pending deliveries whose message was lost.

        With ``overdue_seconds`` None every pending delivery gets one (an in-memory broker restarted
        and forgot them all); otherwise only those that long past due. Their new token makes any
        surviving older message stale, so nothing is sent twice.
        """
        now = utcnow()
        due_before = None if overdue_seconds is None else now - timedelta(seconds=overdue_seconds)
        deliveries = webhook_repository.pending(session, due_before=due_before, now=now, limit=SWEEP_BATCH)
        for delivery in deliveries:
            delivery.token = new_id()
            if delivery.next_attempt_at is None or delivery.next_attempt_at < now:
                delivery.next_attempt_at = now
            self.stage_message(session, delivery)
        session.commit()
        if deliveries:
            log.info("webhook.requeued", count=len(deliveries))
        return len(deliveries)
