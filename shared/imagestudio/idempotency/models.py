"""Idempotency records: shared by every gateway process through the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, TenantRef, UUIDKey, utcnow


class IdempotencyRecord(Base):
    """The first response to a tenant's Idempotency-Key, replayed for 24 h."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_idempotency_keys_tenant_key"),)

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef]
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the route and the request's content (form fields and file digests).
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: ``processing`` until the first request finishes, then ``done``.
    state: Mapped[str] = mapped_column(String(20), default="processing")
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
