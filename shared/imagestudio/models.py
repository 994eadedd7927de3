"""Imports every table so ``Base.metadata`` is complete (Alembic, tests)."""

from imagestudio.assets.models import Asset
from imagestudio.db import Base
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.outbox import OutboxMessage
from imagestudio.tenants.models import ApiKey, Tenant

__all__ = ["ApiKey", "Asset", "Base", "Job", "JobEvent", "OutboxMessage", "Tenant"]
