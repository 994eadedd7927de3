"""Delivery: one ``webhooks.deliver`` message claims its delivery, sends one attempt, records it,
and finishes the delivery or stages its next try; plus the delivery log the API reads.

Each delivery walks the retry schedule (``IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS``, by default
the Standard Webhooks one: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
The delivery's ``token`` names its live message chain and ``locked_until`` marks an attempt in
flight, so duplicate messages (outbox republish, redelivery after a crash) never send twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from dramatiq.middleware import CurrentMessage
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import new_id, session_scope, utcnow
from imagestudio.deferral import defer_current_message
from imagestudio.errors import Conflict, NotFound
from imagestudio.paging import read_page
from imagestudio.ratelimits.service import rate_limit_service
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from imagestudio.webhooks.endpoints import EndpointService, active_secrets
from imagestudio.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEventType
from imagestudio.webhooks.repository import webhook_repository
from imagestudio.webhooks.schemas import (
    DeliveryFilter,
    WebhookAttemptRead,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
)
from imagestudio.webhooks.sending import Outcome, event_body, send
from imagestudio.webhooks.staging import StagingService, new_message_id, retry_delay

log = get_logger(__name__)

#: The rate-limit policy of redeliveries (``POST /webhooks/deliveries/{id}/redeliver``).
REDELIVERIES_POLICY = "redeliveries"


def _aware(moment: datetime | None, now: datetime) -> datetime | None:
    """``moment`` comparable with ``now`` (SQLite hands back naive UTC datetimes)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=now.tzinfo)
    return moment


@dataclass(frozen=True)
class _Target:
    url: str
    secrets: list[str]


class DeliveryService:
    """Sends and records deliveries, and reads their log; ``staging`` stages each next try."""

    def __init__(self, endpoints: EndpointService, staging: StagingService) -> None:
        self._endpoints = endpoints
        self._staging = staging

    # --- the delivery log -----------------------------------------------------------------------
    def _delivery_reads(
        self, session: Session, deliveries: Sequence[WebhookDelivery]
    ) -> list[WebhookDeliveryRead]:
        attempts: dict[str, list[WebhookAttemptRead]] = {d.id: [] for d in deliveries}
        for attempt in webhook_repository.attempts(session, delivery_ids=[d.id for d in deliveries]):
            attempts[attempt.delivery_id].append(
                WebhookAttemptRead.model_validate(attempt, from_attributes=True)
            )
        return [
            # The row's columns by name (as its attempts are read), then what the row does not say:
            # a delivery no longer pending has no next attempt, and its attempt log.
            WebhookDeliveryRead.model_validate(d, from_attributes=True).model_copy(
                update={
                    "next_attempt_at": d.next_attempt_at if d.status == DeliveryStatus.pending else None,
                    "attempt_log": attempts[d.id],
                }
            )
            for d in deliveries
        ]

    def get_delivery(self, session: Session, *, tenant_id: str, delivery_id: str) -> WebhookDeliveryRead:
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id, tenant_id=tenant_id)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}")
        return self._delivery_reads(session, [delivery])[0]

    def page_deliveries(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        filters: DeliveryFilter,
        cursor: str | None = None,
    ) -> WebhookDeliveryPage:
        if filters.endpoint_id:
            self._endpoints.get_endpoint(session, tenant_id=tenant_id, endpoint_id=filters.endpoint_id)
        page, next_cursor = read_page(
            lambda rows, before: webhook_repository.page(
                session, tenant_id=tenant_id, limit=rows, filters=filters, before=before
            ),
            limit=limit,
            cursor=cursor,
        )
        return WebhookDeliveryPage(items=self._delivery_reads(session, page), next_cursor=next_cursor)

    def redeliver(self, session: Session, *, tenant_id: str, delivery_id: str) -> WebhookDeliveryRead:
        """Send a delivery again, same ``webhook-id``, starting the retry schedule afresh.

        Each call counts against the tenant's ``WEBHOOK_REDELIVERIES_PER_MINUTE`` (429 with
        ``Retry-After`` past it): every redelivery is a request to someone's server.
        """
        rate_limit_service.hit(
            tenant_id=tenant_id,
            policy=REDELIVERIES_POLICY,
            limit=get_settings().webhook_redeliveries_per_minute,
        )
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id, tenant_id=tenant_id)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}")
        now = utcnow()
        locked_until = _aware(delivery.locked_until, now)
        if locked_until is not None and locked_until > now:
            raise Conflict("This delivery is being sent right now; try again in a moment")
        if delivery.endpoint_id is None:
            refusal = self._endpoints.target_refusal(session, tenant_id=tenant_id, url=delivery.url)
            if refusal is not None:
                raise Conflict(refusal[0].upper() + refusal[1:])
        if delivery.endpoint_id is not None:
            endpoint = webhook_repository.endpoint(session, endpoint_id=delivery.endpoint_id)
            if endpoint is not None and not endpoint.enabled:
                raise Conflict(
                    f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); re-enable it first"
                )
        delivery.status = DeliveryStatus.pending.value
        delivery.step = 0
        delivery.next_attempt_at = now
        delivery.finished_at = None
        delivery.locked_until = None
        delivery.token = new_id()  # any older message for it is now stale
        self._staging.stage_message(session, delivery)
        session.commit()
        log.info("webhook.redeliver", delivery_id=delivery.id, tenant_id=tenant_id)
        return self._delivery_reads(session, [delivery])[0]

    def send_test(self, session: Session, *, tenant_id: str, endpoint_id: str) -> WebhookDeliveryRead:
        """Stage a signed ``webhook.test`` event to the endpoint, logged like any delivery.

        Counts against ``WEBHOOK_REDELIVERIES_PER_MINUTE`` as a redelivery does: each is a request
        to someone's server.
        """
        rate_limit_service.hit(
            tenant_id=tenant_id,
            policy=REDELIVERIES_POLICY,
            limit=get_settings().webhook_redeliveries_per_minute,
        )
        endpoint = self._endpoints.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        if not endpoint.enabled:
            raise Conflict(
                f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); re-enable it first"
            )
        now = utcnow()
        delivery = WebhookDelivery(
            id=new_message_id(),
            tenant_id=tenant_id,
            endpoint_id=endpoint.id,
            job_id=None,
            url=endpoint.url,
            event_type=WebhookEventType.test.value,
            payload={
                "type": WebhookEventType.test.value,
                "timestamp": now.isoformat(),
                "data": {"endpoint_id": endpoint.id, "message": "A test event from Image Studio"},
            },
            status=DeliveryStatus.pending.value,
            attempts=0,
            step=0,
            token=new_id(),
            created_at=now,
            next_attempt_at=now,
        )
        session.add(delivery)
        self._staging.stage_message(session, delivery)
        session.commit()
        log.info("webhook.test", delivery_id=delivery.id, tenant_id=tenant_id, endpoint_id=endpoint.id)
        return self._delivery_reads(session, [delivery])[0]

    # --- worker side ----------------------------------------------------------------------------
    def deliver(self, *, delivery_id: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        """One ``webhooks.deliver`` message: send if due, re-stage if early, drop if stale."""
        settings = get_settings()
        now = utcnow()
        lease_until = now + timedelta(seconds=2 * settings.webhook_timeout_seconds + 60)
        # In a worker, a tenant has at most its share of deliveries in flight (a black-hole
        # receiver holds a thread per attempt); a direct call has nothing to put back.
        in_worker = CurrentMessage.get_current_message() is not None
        share = settings.resolved_webhook_tenant_max_in_flight if in_worker else None
        at_share = False
        with session_scope() as session:
            if not webhook_repository.claim(
                session, delivery_id=delivery_id, token=token, now=now, lease_until=lease_until, share=share
            ):
                at_share = self._wait_more(session, delivery_id=delivery_id, token=token, now=now)
                delivery = None
            else:
                delivery = webhook_repository.delivery(session, delivery_id=delivery_id)
                assert delivery is not None
                target = self._target(session, delivery, now)
                if isinstance(target, str):
                    self._finish(session, delivery, ok=False, error=target)
                    return
                body = event_body(session, delivery)
                number = delivery.attempts
        if delivery is None:
            if at_share:
                defer_current_message("tenant-share")
            return
        assert isinstance(target, _Target)
        # No database connection is held across the receiver's answer.
        outcome = send(
            self._endpoints.guard(),
            url=target.url,
            signing_secrets=target.secrets,
            msg_id=delivery_id,
            body=body,
            transport=transport,
        )
        with session_scope() as session:
            self._record(session, delivery_id=delivery_id, number=number, url=target.url, outcome=outcome)

    def _wait_more(self, session: Session, *, delivery_id: str, token: str, now: datetime) -> bool:
        """A message that could not claim its delivery: re-stage it if the delivery still waits on
        it. True when the delivery is due and free: its tenant was at its share of the workers."""
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id)
        if delivery is None or delivery.token != token or delivery.status != DeliveryStatus.pending:
            return False  # finished, redelivered or deleted: this message is stale
        locked_until = _aware(delivery.locked_until, now)
        next_attempt_at = _aware(delivery.next_attempt_at, now)
        if locked_until is not None and locked_until > now:
            # An attempt is in flight (or its worker died): look again when its lease ends.
            self._staging.stage_message(session, delivery, at=locked_until + timedelta(seconds=1))
        elif next_attempt_at is not None and next_attempt_at > now:
            self._staging.stage_message(session, delivery)  # a long wait, one capped message at a time
        else:
            return True
        return False

    def _target(self, session: Session, delivery: WebhookDelivery, now: datetime) -> _Target | str:
        """Where and with which secrets to send, or why the delivery stops."""
        if delivery.endpoint_id is None:
            refusal = self._endpoints.target_refusal(session, tenant_id=delivery.tenant_id, url=delivery.url)
            if refusal is not None:
                return refusal
            secret = self._endpoints.signing_secret_row(session, tenant_id=delivery.tenant_id)
            return _Target(url=delivery.url, secrets=active_secrets(secret, now))
        endpoint = webhook_repository.endpoint(session, endpoint_id=delivery.endpoint_id)
        if endpoint is None:
            return "the endpoint was deleted"
        if not endpoint.enabled:
            return f"the endpoint is disabled: {endpoint.disabled_reason}"
        return _Target(url=endpoint.url, secrets=active_secrets(endpoint, now))

    def _record(self, session: Session, *, delivery_id: str, number: int, url: str, outcome: Outcome) -> None:
        """Log the attempt, then finish the delivery or stage its next try (one transaction)."""
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id)
        if delivery is None:
            return  # deleted with its endpoint meanwhile
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                number=number,
                url=url,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                response_excerpt=outcome.excerpt,
            )
        )
        delivery.last_status_code = outcome.status_code
        delivery.last_latency_ms = outcome.latency_ms
        delivery.last_error = outcome.error
        delivery.locked_until = None
        if outcome.status_code is not None:
            WEBHOOK_LATENCY.observe(outcome.latency_ms / 1000)
        endpoint = (
            webhook_repository.endpoint(session, endpoint_id=delivery.endpoint_id, for_update=True)
            if delivery.endpoint_id
            else None
        )
        if delivery.endpoint_id is None and not (outcome.permanent and outcome.status_code is None):
            # A per-job webhook_url: its failures in a row disable it, as deliveries do an endpoint.
            self._endpoints.note_target_attempt(
                session, tenant_id=delivery.tenant_id, url=url, ok=outcome.ok, error=outcome.error
            )
        if outcome.ok:
            WEBHOOK_DELIVERIES.labels("delivered").inc()
            if endpoint is not None:
                endpoint.failed_deliveries = 0
            self._finish(session, delivery, ok=True)
            log.info(
                "webhook.delivered", delivery_id=delivery_id, attempt=number, latency_ms=outcome.latency_ms
            )
            return
        gone = outcome.status_code == 410
        if gone and endpoint is not None and endpoint.enabled:
            self._endpoints.disable(endpoint, "the receiver answered 410 Gone")
        delivery.step += 1
        delay = (
            None
            if gone or outcome.permanent
            else retry_delay(
                delivery.step,
                schedule=get_settings().webhook_retry_schedule_seconds,
                retry_after=outcome.retry_after,
            )
        )
        WEBHOOK_DELIVERIES.labels("failed" if delay is not None else "abandoned").inc()
        if delay is not None:
            delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
            delivery.token = new_id()
            self._staging.stage_message(session, delivery)
            log.info(
                "webhook.attempt_failed",
                delivery_id=delivery_id,
                attempt=number,
                error=outcome.error,
                retry_in_seconds=round(delay, 3),
            )
            return
        self._finish(session, delivery, ok=False, error=outcome.error)
        if endpoint is not None and endpoint.enabled:
            endpoint.failed_deliveries += 1
            limit = get_settings().webhook_disable_after_failed_deliveries
            if endpoint.failed_deliveries >= limit:
                self._endpoints.disable(
                    endpoint,
                    f"{endpoint.failed_deliveries} deliveries in a row failed after every retry "
                    f"(last: {outcome.error})",
                )

    def _finish(
        self, session: Session, delivery: WebhookDelivery, *, ok: bool, error: str | None = None
    ) -> None:
        delivery.status = (DeliveryStatus.succeeded if ok else DeliveryStatus.failed).value
        delivery.finished_at = utcnow()
        delivery.next_attempt_at = None
        delivery.locked_until = None
        if error:
            delivery.last_error = error
        if not ok:
            log.warning("webhook.delivery_failed", delivery_id=delivery.id, error=error)
