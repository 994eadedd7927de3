"""Webhook bodies: the endpoint API, the delivery log, and the event payload receivers get."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagestudio.jobs.schemas import JOB_EXAMPLE
from imagestudio.paging import Page, page_example
from imagestudio.webhooks.models import DeliveryStatus, WebhookEventType
from imagestudio.webhooks.signing import secret_hint

#: Longest webhook URL accepted.
MAX_URL_LENGTH = 2048

# --- the OpenAPI document's examples -----------------------------------------------------------

_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

#: An endpoint as the API shows it after creation (without its secret).
ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": "7c1e2a9b-3d4f-4e5a-8b6c-0d1e2f3a4b5c",
    "url": "https://partner.example/hooks/imagestudio",
    "description": "order images",
    "event_types": ["job.succeeded", "job.failed"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failed_deliveries": 0,
    "secret_hint": secret_hint(_SECRET),
    "previous_secret_expires_at": None,
    "created_at": "2025-01-31T09:00:00Z",
    "updated_at": "2025-01-31T09:00:00Z",
}

#: The example job's ``job.succeeded`` event delivered to the example endpoint, second try.
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "msg_2c4e6a8b0d1f4a3b9c5d7e9f1a2b3c4d",
    "event_type": "job.succeeded",
    "job_id": JOB_EXAMPLE["id"],
    "endpoint_id": ENDPOINT_EXAMPLE["id"],
    "url": ENDPOINT_EXAMPLE["url"],
    "status": "succeeded",
    "attempts": 2,
    "next_attempt_at": None,
    "last_attempt_at": "2025-01-31T09:30:09Z",
    "last_status_code": 200,
    "last_latency_ms": 84,
    "last_error": None,
    "created_at": "2025-01-31T09:30:03Z",
    "finished_at": "2025-01-31T09:30:09Z",
    "attempt_log": [
        {
            "number": 1,
            "url": ENDPOINT_EXAMPLE["url"],
            "started_at": "2025-01-31T09:30:04Z",
            "status_code": 503,
            "latency_ms": 120,
            "error": "HTTP 503",
            "response_excerpt": "upstream unavailable",
        },
        {
            "number": 2,
            "url": ENDPOINT_EXAMPLE["url"],
            "started_at": "2025-01-31T09:30:09Z",
            "status_code": 200,
            "latency_ms": 84,
            "error": None,
            "response_excerpt": None,
        },
    ],
}


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://partner.example/hooks/imagestudio",
                    "description": "order images",
                    "event_types": ["job.succeeded", "job.failed"],
                }
            ]
        },
    )

    url: str = Field(max_length=MAX_URL_LENGTH, description="An http(s) URL reachable from the internet")
    description: str = Field(default="", max_length=500)
    event_types: list[WebhookEventType] = Field(
        default_factory=list, description="Events to send; empty sends every type"
    )
    enabled: bool = True


class WebhookEndpointPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"event_types": ["job.succeeded", "job.failed", "job.canceled"]}, {"enabled": True}]
        },
    )

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[WebhookEventType] | None = None
    #: true re-enables a disabled endpoint (and clears its failure count).
    enabled: bool | None = None


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE]})

    id: str
    url: str
    description: str
    event_types: list[WebhookEventType]
    enabled: bool
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failed_deliveries: int = 0
    #: The secret's first characters, to tell secrets apart; the secret itself is shown once.
    secret_hint: str
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointRead):
    """An endpoint as created or rotated: the only time its signing secret is shown."""

    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE | {"secret": _SECRET}]})

    secret: str


class WebhookEndpointList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [ENDPOINT_EXAMPLE]}]})

    items: list[WebhookEndpointRead]


_TARGET_EXAMPLE: dict[str, Any] = {
    "id": "5b0f4c0e-7a63-4a55-a1f7-0f3c2a9e8d41",
    "url": "https://example.com/hooks/job-42",
    "enabled": False,
    "failed_attempts": 10,
    "last_error": "timeout: no complete answer within the 15 s attempt deadline",
    "disabled_reason": "10 attempts in a row failed (last: timeout: ...)",
    "disabled_at": "2026-12-07T07:00:00Z",
    "updated_at": "2026-12-07T07:00:00Z",
}


class WebhookTargetRead(BaseModel):
    """A per-job ``webhook_url`` with failed attempts on record; disabled ones get no request."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TARGET_EXAMPLE]})

    id: str
    url: str
    enabled: bool
    #: Attempts in a row that failed; a success resets it.
    failed_attempts: int
    last_error: str | None = None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    updated_at: datetime


class WebhookTargetList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_TARGET_EXAMPLE]}]})

    items: list[WebhookTargetRead]


class WebhookTargetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    #: true re-enables a disabled target (and clears its failure count).
    enabled: bool


class SecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_seconds": 3600}]})

    grace_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the old secret still signs too (a second signature), for a switch without downtime",
    )


class SigningSecretRead(BaseModel):
    """The tenant's secret for per-job ``webhook_url`` deliveries: shown once, then only its hint."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"secret": _SECRET, "secret_hint": secret_hint(_SECRET), "previous_secret_expires_at": None},
                {
                    "secret": None,
                    "secret_hint": secret_hint(_SECRET),
                    "previous_secret_expires_at": "2025-02-01T09:00:00Z",
                },
            ]
        }
    )

    #: The secret itself: in the first read's answer and each rotation's, null afterwards.
    secret: str | None = None
    #: The secret's first characters, to tell secrets apart.
    secret_hint: str
    previous_secret_expires_at: datetime | None = None


class JobWebhookCreate(BaseModel):
    """A validated ``webhook_url`` (and filter) given with a studio request."""

    url: str
    event_types: list[WebhookEventType] = Field(default_factory=list)


class WebhookAttemptRead(BaseModel):
    number: int
    url: str
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None = Field(
        default=None,
        description="Of a failed attempt only: up to 64 printable characters of the receiver's "
        "plain-text or JSON answer (nothing of a 2xx or 3xx answer, nor of other types)",
    )


class WebhookDeliveryRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

    #: Also the ``webhook-id`` header: the receiver's idempotency key.
    id: str
    event_type: str
    job_id: str | None
    endpoint_id: str | None
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[WebhookAttemptRead] = Field(default_factory=list)


@dataclass(frozen=True)
class DeliveryFilter:
    """What the delivery log narrows by; each field left ``None`` does not narrow."""

    job_id: str | None = None
    endpoint_id: str | None = None
    status: str | None = None


class WebhookDeliveryPage(Page[WebhookDeliveryRead]):
    model_config = ConfigDict(json_schema_extra=page_example(DELIVERY_EXAMPLE))


# --- what receivers get ------------------------------------------------------------------------


class WebhookOutput(BaseModel):
    name: str
    kind: str
    content_type: str
    width: int | None = None
    height: int | None = None
    url: str
    expires_at: datetime


class WebhookJobData(BaseModel):
    id: str
    status: str
    studio: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    outputs: list[WebhookOutput] = Field(default_factory=list)
    #: True when the outputs did not all fit in the payload budget: GET the job for the rest.
    outputs_truncated: bool = False
    links: dict[str, str] = Field(default_factory=dict)


class WebhookEvent(BaseModel):
    """The body of every webhook (Standard Webhooks shape): thin, links instead of bytes."""

    type: WebhookEventType
    timestamp: datetime
    data: WebhookJobData
