"""Imports every table so ``Base.metadata`` is complete: entry points, Alembic and tests import this first.

Foreign keys name tables by string; a flush resolves them against ``Base.metadata``, so a process must
register every table before its first session writes (``imagestudio.db`` does not import this).
"""

from imagestudio.assets.models import Asset, AssetUsage
from imagestudio.credits.models import CreditAccount, CreditEntry
from imagestudio.idempotency.models import IdempotencyRecord
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.orm import Base
from imagestudio.outbox.models import OutboxMessage
from imagestudio.personas.models import Persona
from imagestudio.provider_health import ProviderHealth
from imagestudio.quota.models import StorageAccount
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
    "StorageAccount",
]
