"""Webhook rules: endpoints and secrets, events staged with the job transition, delivery with retries.

A job transition calls ``stage_job_event`` inside its own transaction: the delivery rows and
their ``webhooks.deliver`` messages are written to the outbox with the new job status, so an
event is never lost and never sent for a transition that rolled back.

Each delivery then walks the retry schedule (``IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS``,
by default the Standard Webhooks one: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
20 h, 24 h). A wait longer than RabbitMQ's consumer timeout cannot ride on one delayed
message, so each message carries at most ``webhook_max_message_delay_seconds``; a message that
arrives before ``next_attempt_at`` re-stages itself for the rest. The delivery's ``token``
names its live message chain and ``locked_until`` marks an attempt in flight, so duplicate
messages (outbox republish, redelivery after a crash) never send twice; a sweeper re-stages
the rare delivery whose message was lost.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from dramatiq.common import dq_name
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.db import new_id, session_scope, utcnow
from imagestudio.egress import EgressGuard, EgressRefused, GuardedTransport, deadline_transport
from imagestudio.errors import Conflict, NotFound, ValidationFailed
from imagestudio.jobs.models import Job
from imagestudio.messaging import WEBHOOKS_DELIVER, Queue
from imagestudio.outbox import outbox_service
from imagestudio.paging import decode_cursor, encode_cursor
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from imagestudio.urls import job_path
from imagestudio.webhooks.models import (
    DeliveryStatus,
    JobWebhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
    WebhookSigningSecret,
)
from imagestudio.webhooks.repository import webhook_repository
from imagestudio.webhooks.schemas import (
    JobWebhookCreate,
    SigningSecretRead,
    WebhookAttemptRead,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointPatch,
    WebhookEndpointRead,
    WebhookEndpointWithSecret,
    WebhookEvent,
    WebhookJobData,
)
from imagestudio.webhooks.signing import new_secret, secret_hint, signed_headers

log = get_logger(__name__)

USER_AGENT = "ImageStudio-Webhooks/1"
#: Standard Webhooks asks for payloads under 20 kB; outputs past the budget are left to GET /jobs/{id}.
MAX_PAYLOAD_BYTES = 20_000
#: Share of each retry delay drawn at random (±), so receivers coming back are not stampeded.
RETRY_JITTER = 0.1
#: Longest ``Retry-After`` honoured: a receiver cannot park a delivery for ever.
MAX_RETRY_AFTER_SECONDS = 24 * 3600
#: Endpoints one tenant may register.
MAX_ENDPOINTS = 20
#: Bytes of a receiver's answer kept in the attempt log.
RESPONSE_EXCERPT_BYTES = 512
#: A pending delivery this far past its time has lost its message; the sweeper stages a new one.
OVERDUE_SECONDS = 300.0
#: Deliveries one sweep re-stages.
SWEEP_BATCH = 500


def _msg_id() -> str:
    # The webhook-id header: no "." (the signed content is "{id}.{timestamp}.{body}").
    return "msg_" + uuid.uuid4().hex


def _active_secrets(row: WebhookEndpoint | WebhookSigningSecret, now: datetime) -> list[str]:
    """The secret, plus the previous one while its rotation grace lasts (two ``v1`` signatures)."""
    found = [row.secret]
    if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
        found.append(row.previous_secret)
    return found


def retry_delay(step: int, *, schedule: Sequence[float], retry_after: float | None = None) -> float | None:
    """Seconds before attempt ``step`` (0-based) with jitter; None when the schedule is spent."""
    if step >= len(schedule):
        return None
    delay = schedule[step] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: the schedule's own delay is good enough


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt produced."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    #: No retry can help (the egress guard refused the address).
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class _Target:
    url: str
    secrets: list[str]


class _NoEndpoints:
    """Tenants seen without an enabled endpoint, for a few seconds: most tenants have none, and
    staging an event for them should cost no query. This process forgets a tenant at once when
    it registers or changes an endpoint; other processes within ``webhook_endpoint_cache_seconds``.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def known(self, tenant_id: str) -> bool:
        until = self._until.get(tenant_id)
        return until is not None and until > time.monotonic()

    def remember(self, tenant_id: str) -> None:
        seconds = get_settings().webhook_endpoint_cache_seconds
        if seconds <= 0:
            return
        with self._lock:
            if len(self._until) >= 10_000:  # bounded: drop the lot rather than track ages
                self._until.clear()
            self._until[tenant_id] = time.monotonic() + seconds

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._until.pop(tenant_id, None)


_no_endpoints = _NoEndpoints()


class WebhookService:
    # --- the egress guard ---------------------------------------------------------------------
    def guard(self) -> EgressGuard:
        return EgressGuard(allow_loopback=get_settings().webhook_allow_loopback)

    def check_url(self, url: str, *, field: str) -> str:
        """Refuse a URL we would never call, naming the request field (a 422 at registration)."""
        try:
            self.guard().check(url)
        except EgressRefused as exc:
            raise ValidationFailed(field, exc.reason) from exc
        return url

    # --- tenant endpoints ---------------------------------------------------------------------
    def to_read(self, endpoint: WebhookEndpoint) -> WebhookEndpointRead:
        return WebhookEndpointRead(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=[WebhookEventType(t) for t in endpoint.event_types],
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            failed_deliveries=endpoint.failed_deliveries,
            secret_hint=secret_hint(endpoint.secret),
            previous_secret_expires_at=endpoint.previous_secret_expires_at
            if endpoint.previous_secret
            else None,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )

    def _with_secret(self, endpoint: WebhookEndpoint) -> WebhookEndpointWithSecret:
        return WebhookEndpointWithSecret(**self.to_read(endpoint).model_dump(), secret=endpoint.secret)

    def get_endpoint(self, session: Session, *, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = webhook_repository.endpoint(session, endpoint_id=endpoint_id, tenant_id=tenant_id)
        if endpoint is None:  # another tenant's endpoint is indistinguishable from a missing one
            raise NotFound(f"No webhook endpoint {endpoint_id}")
        return endpoint

    def list_endpoints(self, session: Session, *, tenant_id: str) -> list[WebhookEndpointRead]:
        return [self.to_read(e) for e in webhook_repository.endpoints(session, tenant_id=tenant_id)]

    def create_endpoint(
        self, session: Session, *, tenant_id: str, data: WebhookEndpointCreate
    ) -> WebhookEndpointWithSecret:
        """Register an endpoint; its secret is in this answer and never again."""
        self.check_url(data.url, field="url")
        if len(webhook_repository.endpoints(session, tenant_id=tenant_id)) >= MAX_ENDPOINTS:
            raise Conflict(f"A tenant may register at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint = WebhookEndpoint(
            tenant_id=tenant_id,
            url=data.url,
            description=data.description,
            event_types=sorted({t.value for t in data.event_types}),
            enabled=data.enabled,
            disabled_reason=None if data.enabled else "created disabled",
            disabled_at=None if data.enabled else utcnow(),
            secret=new_secret(),
        )
        session.add(endpoint)
        session.commit()
        _no_endpoints.forget(tenant_id)
        log.info("webhook.endpoint_created", tenant_id=tenant_id, endpoint_id=endpoint.id)
        return self._with_secret(endpoint)

    def update_endpoint(
        self, session: Session, *, tenant_id: str, endpoint_id: str, patch: WebhookEndpointPatch
    ) -> WebhookEndpointRead:
        if patch.url is not None:  # resolved before the transaction opens (SQLite: its write lock)
            self.check_url(patch.url, field="url")
        endpoint = self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        if patch.url is not None:
            endpoint.url = patch.url
        if patch.description is not None:
            endpoint.description = patch.description
        if patch.event_types is not None:
            endpoint.event_types = sorted({t.value for t in patch.event_types})
        if patch.enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.disabled_reason = None
            endpoint.disabled_at = None
            endpoint.failed_deliveries = 0
        elif patch.enabled is False and endpoint.enabled:
            self._disable(endpoint, "disabled through the API")
        session.commit()
        _no_endpoints.forget(tenant_id)
        return self.to_read(endpoint)

    def delete_endpoint(self, session: Session, *, tenant_id: str, endpoint_id: str) -> None:
        """Remove an endpoint with its delivery log; pending deliveries to it are dropped."""
        session.delete(self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id))
        session.commit()

    def rotate_endpoint_secret(
        self, session: Session, *, tenant_id: str, endpoint_id: str, grace_seconds: int
    ) -> WebhookEndpointWithSecret:
        """A new secret, shown once; the old one keeps signing too for ``grace_seconds``."""
        endpoint = self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        self._rotate(endpoint, grace_seconds)
        session.commit()
        return self._with_secret(endpoint)

    def _rotate(self, row: WebhookEndpoint | WebhookSigningSecret, grace_seconds: int) -> None:
        row.previous_secret = row.secret if grace_seconds else None
        row.previous_secret_expires_at = (
            utcnow() + timedelta(seconds=grace_seconds) if grace_seconds else None
        )
        row.secret = new_secret()

    def _disable(self, endpoint: WebhookEndpoint, reason: str) -> None:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        endpoint.disabled_at = utcnow()
        log.warning("webhook.endpoint_disabled", endpoint_id=endpoint.id, reason=reason)

    # --- the tenant's secret for per-job webhook_url --------------------------------------------
    def _signing_secret(self, session: Session, *, tenant_id: str) -> WebhookSigningSecret:
        row = webhook_repository.signing_secret(session, tenant_id=tenant_id)
        if row is not None:
            return row
        nested = session.begin_nested()
        row = WebhookSigningSecret(tenant_id=tenant_id, secret=new_secret())
        session.add(row)
        try:
            nested.commit()
            return row
        except IntegrityError:  # a concurrent request created it first
            nested.rollback()
            found = webhook_repository.signing_secret(session, tenant_id=tenant_id)
            assert found is not None
            return found

    def signing_secret(self, session: Session, *, tenant_id: str) -> SigningSecretRead:
        """The secret in the first read's answer (the row locked, so two reads cannot both show it),
        its hint afterwards: a leaked API key does not hand over the secret too."""
        row = self._signing_secret(session, tenant_id=tenant_id)
        reveal = webhook_repository.mark_signing_secret_revealed(session, tenant_id=tenant_id)
        session.commit()
        return SigningSecretRead(
            secret=row.secret if reveal else None,
            secret_hint=secret_hint(row.secret),
            previous_secret_expires_at=row.previous_secret_expires_at if row.previous_secret else None,
        )

    def rotate_signing_secret(
        self, session: Session, *, tenant_id: str, grace_seconds: int
    ) -> SigningSecretRead:
        """A new secret, in this answer only; the old one keeps signing too for ``grace_seconds``."""
        row = self._signing_secret(session, tenant_id=tenant_id)
        self._rotate(row, grace_seconds)
        row.revealed_at = utcnow()
        session.commit()
        return SigningSecretRead(
            secret=row.secret,
            secret_hint=secret_hint(row.secret),
            previous_secret_expires_at=row.previous_secret_expires_at,
        )

    def reseal_secrets(self, session: Session) -> int:
        """Seal every stored signing secret again with the first key (after adding one); returns the rows."""
        rows = webhook_repository.rows_with_secrets(session)
        for row in rows:
            # Loaded plain (any key opens it), written sealed with the first key.
            flag_modified(row, "secret")
            if row.previous_secret is not None:
                flag_modified(row, "previous_secret")
        session.commit()
        return len(rows)

    # --- per-job webhooks -----------------------------------------------------------------------
    def job_webhook(self, *, url: str | None, events: Sequence[str] | None) -> JobWebhookCreate | None:
        """Validate a studio request's ``webhook_url`` and ``webhook_events`` (repeat or comma-separate)."""
        names = [e.strip() for raw in events or () for e in raw.split(",") if e.strip()]
        if not url:
            if names:
                raise ValidationFailed("webhook_events", "give webhook_url too")
            return None
        self.check_url(url, field="webhook_url")
        try:
            types = [WebhookEventType(name) for name in dict.fromkeys(names)]
        except ValueError as exc:
            allowed = ", ".join(t.value for t in WebhookEventType)
            raise ValidationFailed("webhook_events", f"choose from {allowed}") from exc
        return JobWebhookCreate(url=url, event_types=types)

    def subscribe_job(
        self, session: Session, *, tenant_id: str, job_id: str, webhook: JobWebhookCreate
    ) -> None:
        """Attach a request's webhook to its job (in the job's transaction)."""
        self._signing_secret(session, tenant_id=tenant_id)
        session.add(
            JobWebhook(
                job_id=job_id,
                tenant_id=tenant_id,
                url=webhook.url,
                event_types=sorted({t.value for t in webhook.event_types}),
            )
        )
        session.flush()

    # --- staging events (called by the job state machine) ----------------------------------------
    def may_have_endpoints(self, session: Session, *, tenant_id: str) -> bool:
        """False when the tenant has no enabled endpoint (remembered for a few seconds, as staging does)."""
        return bool(self._enabled_endpoints(session, tenant_id=tenant_id))

    def _enabled_endpoints(self, session: Session, *, tenant_id: str) -> Sequence[WebhookEndpoint]:
        """The tenant's enabled endpoints; none, without a query, while it is known to have none."""
        if _no_endpoints.known(tenant_id):
            return ()
        endpoints = webhook_repository.enabled_endpoints(session, tenant_id=tenant_id)
        if not endpoints:
            _no_endpoints.remember(tenant_id)
        return endpoints

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
            for endpoint in self._enabled_endpoints(session, tenant_id=job.tenant_id)
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
                id=_msg_id(),
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
            self._stage_message(session, delivery)
        return len(targets)

    def _payload(self, job: Job, kind: WebhookEventType) -> dict[str, Any]:
        status = kind.value.removeprefix("job.")
        data = WebhookJobData(
            id=job.id,
            status=status,
            studio=job.studio,
            created_at=job.created_at,
            finished_at=job.finished_at if status in ("succeeded", "failed", "canceled") else None,
            error=job.error if kind is WebhookEventType.failed else None,
            links={"self": get_settings().base_url + job_path(job.id)},
        )
        return WebhookEvent(type=kind, timestamp=utcnow(), data=data).model_dump(mode="json")

    def _stage_message(
        self, session: Session, delivery: WebhookDelivery, *, at: datetime | None = None
    ) -> None:
        """Stage the delivery's next ``webhooks.deliver`` message, due at ``at`` (or next_attempt_at)."""
        settings = get_settings()
        now = utcnow()
        due = at or delivery.next_attempt_at or now
        wait = (due - now).total_seconds()
        queue_name, options = Queue.webhooks.value, {}
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

    # --- the delivery log -----------------------------------------------------------------------
    def _delivery_reads(
        self, session: Session, deliveries: Sequence[WebhookDelivery]
    ) -> list[WebhookDeliveryRead]:
        attempts: dict[str, list[WebhookAttemptRead]] = {d.id: [] for d in deliveries}
        for attempt in webhook_repository.attempts(session, delivery_ids=[d.id for d in deliveries]):
            attempts[attempt.delivery_id].append(
                WebhookAttemptRead(
                    number=attempt.number,
                    url=attempt.url,
                    started_at=attempt.started_at,
                    status_code=attempt.status_code,
                    latency_ms=attempt.latency_ms,
                    error=attempt.error,
                    response_excerpt=attempt.response_excerpt,
                )
            )
        return [
            WebhookDeliveryRead(
                id=d.id,
                event_type=d.event_type,
                job_id=d.job_id,
                endpoint_id=d.endpoint_id,
                url=d.url,
                status=DeliveryStatus(d.status),
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.pending else None,
                last_attempt_at=d.last_attempt_at,
                last_status_code=d.last_status_code,
                last_latency_ms=d.last_latency_ms,
                last_error=d.last_error,
                created_at=d.created_at,
                finished_at=d.finished_at,
                attempt_log=attempts[d.id],
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
        job_id: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
    ) -> WebhookDeliveryPage:
        if endpoint_id:
            self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        deliveries = webhook_repository.page(
            session,
            tenant_id=tenant_id,
            limit=limit + 1,
            job_id=job_id,
            endpoint_id=endpoint_id,
            status=status,
            before=decode_cursor(cursor) if cursor else None,
        )
        more = len(deliveries) > limit
        deliveries = deliveries[:limit]
        return WebhookDeliveryPage(
            items=self._delivery_reads(session, deliveries),
            next_cursor=encode_cursor(deliveries[-1].created_at, deliveries[-1].id)
            if more and deliveries
            else None,
        )

    def redeliver(self, session: Session, *, tenant_id: str, delivery_id: str) -> WebhookDeliveryRead:
        """Send a delivery again, same ``webhook-id``, starting the retry schedule afresh."""
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id, tenant_id=tenant_id)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}")
        now = utcnow()
        if delivery.locked_until is not None and delivery.locked_until > now:
            raise Conflict("This delivery is being sent right now; try again in a moment")
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
        self._stage_message(session, delivery)
        session.commit()
        log.info("webhook.redeliver", delivery_id=delivery.id, tenant_id=tenant_id)
        return self._delivery_reads(session, [delivery])[0]

    # --- worker side ----------------------------------------------------------------------------
    def deliver(self, *, delivery_id: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        """One ``webhooks.deliver`` message: send if due, re-stage if early, drop if stale."""
        settings = get_settings()
        now = utcnow()
        lease_until = now + timedelta(seconds=2 * settings.webhook_timeout_seconds + 60)
        with session_scope() as session:
            if not webhook_repository.claim(
                session, delivery_id=delivery_id, token=token, now=now, lease_until=lease_until
            ):
                self._wait_more(session, delivery_id=delivery_id, token=token, now=now)
                return
            delivery = webhook_repository.delivery(session, delivery_id=delivery_id)
            assert delivery is not None
            target = self._target(session, delivery, now)
            if isinstance(target, str):
                self._finish(session, delivery, ok=False, error=target)
                return
            body = self._body(session, delivery)
            number = delivery.attempts
        # No database connection is held across the receiver's answer.
        outcome = self._send(
            url=target.url, signing_secrets=target.secrets, msg_id=delivery_id, body=body, transport=transport
        )
        with session_scope() as session:
            self._record(session, delivery_id=delivery_id, number=number, url=target.url, outcome=outcome)

    def _wait_more(self, session: Session, *, delivery_id: str, token: str, now: datetime) -> None:
        """A message that could not claim its delivery: re-stage it if the delivery still waits on it."""
        delivery = webhook_repository.delivery(session, delivery_id=delivery_id)
        if delivery is None or delivery.token != token or delivery.status != DeliveryStatus.pending:
            return  # finished, redelivered or deleted: this message is stale
        if delivery.locked_until is not None and delivery.locked_until > now:
            # An attempt is in flight (or its worker died): look again when its lease ends.
            self._stage_message(session, delivery, at=delivery.locked_until + timedelta(seconds=1))
        elif delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            self._stage_message(session, delivery)  # a long wait, one capped message at a time

    def _target(self, session: Session, delivery: WebhookDelivery, now: datetime) -> _Target | str:
        """Where and with which secrets to send, or why the delivery stops."""
        if delivery.endpoint_id is None:
            secret = self._signing_secret(session, tenant_id=delivery.tenant_id)
            return _Target(url=delivery.url, secrets=_active_secrets(secret, now))
        endpoint = webhook_repository.endpoint(session, endpoint_id=delivery.endpoint_id)
        if endpoint is None:
            return "the endpoint was deleted"
        if not endpoint.enabled:
            return f"the endpoint is disabled: {endpoint.disabled_reason}"
        return _Target(url=endpoint.url, secrets=_active_secrets(endpoint, now))

    def _body(self, session: Session, delivery: WebhookDelivery) -> str:
        """The exact bytes to sign and send: the staged event, with output links signed afresh."""
        payload = json.loads(json.dumps(delivery.payload))
        if delivery.event_type == WebhookEventType.succeeded and delivery.job_id:
            outputs = asset_service.outputs_for_jobs(session, job_ids=[delivery.job_id])[delivery.job_id]
            data = payload["data"]
            data["outputs"], data["outputs_truncated"] = [], False
            budget = MAX_PAYLOAD_BYTES - len(_dump(payload).encode()) - len(',"outputs_truncated":true')
            for output in outputs:
                item = {
                    "name": output.name,
                    "kind": output.kind,
                    "content_type": output.content_type,
                    "width": output.width,
                    "height": output.height,
                    "url": output.url,
                    "expires_at": output.expires_at.isoformat(),
                }
                size = len(_dump(item).encode()) + 1
                if size > budget:
                    data["outputs_truncated"] = True
                    break
                data["outputs"].append(item)
                budget -= size
        return _dump(payload)

    def _send(
        self,
        *,
        url: str,
        signing_secrets: list[str],
        msg_id: str,
        body: str,
        transport: httpx.BaseTransport | None,
    ) -> Outcome:
        settings = get_settings()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signed_headers(signing_secrets, msg_id=msg_id, timestamp=utcnow(), body=body),
        }
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        deadline = settings.webhook_attempt_deadline_seconds
        try:
            with (
                httpx.Client(
                    transport=GuardedTransport(self.guard(), transport or deadline_transport(deadline)),
                    timeout=min(settings.webhook_timeout_seconds, deadline),
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream("POST", url, content=body.encode(), headers=headers) as response,
            ):
                excerpt = b""
                for chunk in response.iter_raw():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                        break
                code = response.status_code
                error = None
                if 300 <= code < 400:
                    error = f"redirect to {response.headers.get('location', '?')} not followed"
                elif not 200 <= code < 300:
                    error = f"HTTP {code}"
                return Outcome(
                    status_code=code,
                    latency_ms=elapsed(),
                    error=error,
                    excerpt=excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace") or None,
                    retry_after=_retry_after(response.headers.get("retry-after"))
                    if code in (429, 503)
                    else None,
                )
        except EgressRefused as exc:
            return Outcome(None, elapsed(), error=f"refused: the URL {exc.reason}", permanent=exc.permanent)
        except httpx.TimeoutException as exc:
            # Recorded like any failure, so the schedule goes on (and ends) as for a 500.
            return Outcome(
                None,
                elapsed(),
                error=f"timeout: no complete answer within the {deadline:g} s attempt deadline "
                f"or the {settings.webhook_timeout_seconds:g} s operation timeout ({type(exc).__name__})",
            )
        except httpx.HTTPError as exc:
            return Outcome(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])

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
            self._disable(endpoint, "the receiver answered 410 Gone")
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
            self._stage_message(session, delivery)
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
                self._disable(
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
            self._stage_message(session, delivery)
        session.commit()
        if deliveries:
            log.info("webhook.requeued", count=len(deliveries))
        return len(deliveries)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


webhook_service = WebhookService()
