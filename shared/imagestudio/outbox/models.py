"""The outbox table: one row per message staged in a business transaction, until the relay publishes it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"
    #: Pending messages only (migration 0016): a message marked published leaves it, adding no entry.
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Dramatiq message id, fixed at write time so a republished row is the same message.
    message_id: Mapped[str] = mapped_column(String(36), default=lambda: str(uuid.uuid4()))
    queue_name: Mapped[str] = mapped_column(String(50))
    actor_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
