"""The ``provider_health`` table: one provider's circuit-breaker state, shared by every process.

Outside the ``providers`` package on purpose: registering the table (``imagestudio.models``) must not
import the provider clients, httpx or Pillow. ``providers/health.py`` reads and writes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, utcnow


class ProviderHealth(Base):
    """One provider's breaker state and what its endpoint last turned out to be."""

    __tablename__ = "provider_health"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: A ``CircuitState`` value (``providers/resilience.py``); a new row starts closed.
    state: Mapped[str] = mapped_column(String(20), default="closed")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    #: Breaker clock readings (epoch seconds), as the breaker keeps them.
    opened_at: Mapped[float | None] = mapped_column(Float, default=None)
    trial_started_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: Recent outcomes as ``[[time, ok], ...]``, pruned by the breaker to its window.
    outcomes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: True when the endpoint's last answer carried ``X-Simulator`` (a local simulator, not the provider).
    simulated: Mapped[bool | None] = mapped_column(Boolean, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
