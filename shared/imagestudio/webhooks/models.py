"""Webhook tables: endpoints, signing secrets, per-job subscriptions, deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, SerialKey, TenantRef, UUIDKey, new_id, utcnow
from imagestudio.secrets_at_rest import SealedString

#: Room for a ``whsec_`` secret sealed with Fernet (``fernet:`` + a token of about 164 characters).
SEALED_SECRET_LENGTH = 400


class WebhookEventType(StrEnum):
    """The events a webhook can carry: one per status a job enters, and a test event on request."""

    queued = "job.queued"
    running = "job.running"
    succeeded = "job.succeeded"
    failed = "job.failed"
    canceled = "job.canceled"
    expired = "job.expired"
    #: Sent only when asked (``POST /webhooks/endpoints/{id}/test``), whatever the endpoint's filter.
    test = "webhook.test"


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class RotatingSecret:
    """A signing secret and the one it replaced, kept until the rotation's grace ends."""

    #: ``whsec_`` + base64: the sender must hold it to sign, so it is kept, sealed with Fernet
    #: (``secrets_at_rest``), and shown only when created or rotated.
    secret: Mapped[str] = mapped_column(SealedString(SEALED_SECRET_LENGTH))
    #: The secret before the last rotation, still signed with until it expires (zero-downtime rotation).
    previous_secret: Mapped[str | None] = mapped_column(SealedString(SEALED_SECRET_LENGTH), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookEndpoint(RotatingSecret, Base):
    """A tenant's receiver of every job event it subscribes to; signed with its own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    #: Event types to send; empty means every type.
    event_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Why delivery stopped (410 Gone, too many failed deliveries): shown to the tenant.
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Deliveries in a row that spent every retry; a success resets it.
    failed_deliveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookSigningSecret(RotatingSecret, Base):
    """A tenant's secret for per-job ``webhook_url`` deliveries (like Replicate's default secret)."""

    __tablename__ = "webhook_signing_secrets"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    #: The secret is shown by the first read and by each rotation, masked otherwise.
    #: When the current secret was shown; after that the API shows only its hint.
    revealed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobWebhook(Base):
    """The ``webhook_url`` (and event filter) given with one studio request."""

    __tablename__ = "job_webhooks"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[TenantRef]
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookTarget(Base):
    """A per-job ``webhook_url`` one tenant sends to, and how its attempts went lately.

    Like an endpoint, a target whose attempts keep failing is disabled: later deliveries to it
    fail without a request, the delivery log says why, and the tenant re-enables it through the
    API. A row exists only once an attempt to the URL has failed.
    """

    __tablename__ = "webhook_targets"
    __table_args__ = (UniqueConstraint("tenant_id", "url_hash", name="uq_webhook_targets_tenant_url"),)

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef]
    #: SHA-256 of the URL (hex): the URL itself is too long to index.
    url_hash: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Attempts in a row that failed (timed out, refused, answered an error); a success resets it.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: Why deliveries to it stopped: shown to the tenant on the target and on each delivery.
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one receiver; its id is the ``webhook-id`` header, the same on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_tenant_created", "tenant_id", "created_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_job_id", "job_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # A tenant's deliveries in flight, counted against its share of the webhook workers.
        Index("ix_webhook_deliveries_tenant_locked", "tenant_id", "locked_until"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[TenantRef]
    #: Set for a tenant endpoint's delivery; None for a per-job ``webhook_url``.
    endpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), default=None
    )
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), default=None)
    #: Where it goes (an endpoint's deliveries follow the endpoint's current URL).
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(40))
    #: The event as staged; output links are signed afresh at each attempt so retries carry live URLs.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Position in the retry schedule (a redelivery starts it again).
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Set while a worker sends; another message for the delivery waits until it passes.
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    #: The live message chain: a message carrying another token is stale and dropped.
    token: Mapped[str] = mapped_column(String(36), default=new_id)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(Base):
    """One HTTP request of a delivery: the log a tenant reads when a receiver misbehaves."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[SerialKey]
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: The start of the receiver's answer, to help debugging (never more than a few hundred bytes).
    response_excerpt: Mapped[str | None] = mapped_column(Text, default=None)
