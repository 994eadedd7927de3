"""The persona table: one brand voice per row, owned by a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, TenantRef, UUIDKey, utcnow


class Persona(Base):
    __tablename__ = "personas"
    __table_args__ = (Index("ix_personas_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[UUIDKey]
    tenant_id: Mapped[TenantRef]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    tone: Mapped[str] = mapped_column(String(200), default="")
    #: Brand colours as ``#rrggbb`` or colour names.
    palette: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Style words added to every prompt (``minimalist``, ``flat illustration``).
    style_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Subjects the brand never shows; they go to the negative prompt.
    avoid: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
