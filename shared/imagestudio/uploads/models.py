"""The upload table: one row per image a tenant stored for reuse."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, utcnow


class UploadState(StrEnum):
    #: A presigned PUT was handed out; the object is checked the first time a job uses it.
    pending = "pending"
    #: The header was checked; width, height and format are known.
    ready = "ready"


def new_upload_id() -> str:
    return "upl_" + secrets.token_hex(16)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_expires_at", "expires_at"),
        # GET /uploads: a tenant's uploads, newest first.
        Index("ix_uploads_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_upload_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default=UploadState.ready)
    key: Mapped[str] = mapped_column(String(500))
    #: Declared by the client for a pending upload; the detected format's type once checked.
    content_type: Mapped[str] = mapped_column(String(100))
    ext: Mapped[str] = mapped_column(String(10))
    format: Mapped[str | None] = mapped_column(String(20), default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    has_alpha: Mapped[bool | None] = mapped_column(Boolean, default=None)
    orientation: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Frames of an animation or pages of a multi-page file, from the header (the memory model
    #: counts frames x width x height); 1 for a still image.
    frames: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Declared size for a pending upload; the stored size once checked.
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
