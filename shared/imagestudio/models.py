"""Imports every table so ``Base.metadata`` is complete (Alembic, tests)."""

from imagestudio.assets.models import Asset, AssetUsage
from imagestudio.credits.models import CreditAccount, CreditEntry
from imagestudio.db import Base
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.outbox import OutboxMessage
from imagestudio.personas.models import Persona
from imagestudio.providers.health import ProviderHealth
from imagestudio.ratelimits.models import IdempotencyRecord
from imagestudio.tenants.models import ApiKey, Tenant
from imagestudio.uploads.models import Upload
from imagestudio.webhooks.models import (
    JobWebhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSigningSecret,
)

__all__ = [
    "ApiKey",
    "Asset",
    "AssetUsage",
    "CreditAccount",
    "CreditEntry",
    "IdempotencyRecord",
    "Base",
    "Job",
    "JobEvent",
    "OutboxMessage",
    "Tenant",
    "Upload",
    "JobWebhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSigningSecret",
    "Persona",
    "ProviderHealth",
]
