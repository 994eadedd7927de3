"""The asset table: one row per output object of a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, SerialKey, TenantRef, UUIDKey, utcnow


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        # One row per output name per job: a redelivered message rewrites, never duplicates.
        UniqueConstraint("job_id", "name", name="uq_assets_job_id_name"),
        Index("ix_assets_tenant_created", "tenant_id", "created_at"),
        # The retention sweeper reads the oldest assets of every tenant.
        Index("ix_assets_created_at", "created_at"),
    )

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef]
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    studio: Mapped[str] = mapped_column(String(20))
    #: Output name inside the job, e.g. ``instagram.story`` or ``all.zip``.
    name: Mapped[str] = mapped_column(String(200))
    #: The download name: the source file's stem and the output's name (``storage.download_name``).
    filename: Mapped[str | None] = mapped_column(String(200), default=None)
    #: ``image``, ``preview`` (safe-zone overlay) or ``archive``.
    kind: Mapped[str] = mapped_column(String(20), default="image")
    position: Mapped[int] = mapped_column(Integer, default=0)
    key: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(20))
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str | None] = mapped_column(String(50), default=None)
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    favorite: Mapped[bool] = mapped_column(default=False)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetUsage(Base):
    """Where a tenant used an asset (a campaign, a post, a page)."""

    __tablename__ = "asset_usages"

    id: Mapped[SerialKey]
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    used_in: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
