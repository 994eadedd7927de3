"""Tenant and API-key tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, TenantRef, UUIDKey, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[UUIDKey]
    name: Mapped[str] = mapped_column(String(200))
    #: Subscription tier (see credits/tiers.py); a change applies from the next request.
    tier: Mapped[str] = mapped_column(String(20), default="free")
    #: Negotiated overrides of the tier's limits (``imagestudio tenants set-limits``); None = the tier's.
    requests_per_minute: Mapped[int | None] = mapped_column(default=None)
    max_concurrent_jobs: Mapped[int | None] = mapped_column(default=None)
    max_stored_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef] = mapped_column(index=True)
    #: First characters of the key, shown in listings so a key can be recognised, never the key.
    prefix: Mapped[str] = mapped_column(String(20))
    #: SHA-256 of the whole key: keys carry 256 random bits, so a fast hash is safe and lookups are O(1).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
