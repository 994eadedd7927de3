"""Imports every table so ``Base.metadata`` is complete (Alembic, tests)."""

from imagestudio.assets.models import Asset, AssetUsage
from imagestudio.credits.models import CreditEntry
from imagestudio.db import Base
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.outbox import OutboxMessage
from imagestudio.ratelimits.models import IdempotencyRecord, RateLimitWindow
from imagestudio.tenants.models import ApiKey, Tenant

__all__ = ["ApiKey", "Asset", "AssetUsage", "CreditEntry", "IdempotencyRecord", "RateLimitWindow", "Base", "Job", "JobEvent", "OutboxMessage", "Tenant"]
