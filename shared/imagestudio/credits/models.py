"""The credit ledger: append-only; a tenant's balance is the sum of its rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagestudio.orm import Base, SerialKey, utcnow


class EntryKind(StrEnum):
    grant = "grant"
    reserve = "reserve"
    capture = "capture"
    release = "release"
    refund = "refund"
    adjust = "adjust"


class CreditEntry(Base):
    """One movement. ``balance_delta`` moves what the tenant owns, ``reserved_delta`` what is held."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        # The same movement can never be written twice: a redelivered success captures once.
        UniqueConstraint("tenant_id", "kind", "reference", name="uq_credit_ledger_movement"),
        Index("ix_credit_ledger_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[SerialKey]
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    balance_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    #: What makes the movement unique: ``job:<id>``, ``job:<id>:<output>``, ``month:2026-11``, a note id.
    reference: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditAccount(Base):
    """A tenant's running totals, moved in the same statements as the ledger rows they sum.

    The ledger stays the record (``balance`` is the sum of its ``balance_delta``, ``reserved`` of
    its ``reserved_delta``); this row lets a submission reserve with one conditional UPDATE
    instead of summing the ledger under a lock. ``active_jobs`` counts queued and running jobs
    for the concurrency limit, so admission needs no count over the jobs table.
    """

    __tablename__ = "credit_accounts"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    active_jobs: Mapped[int] = mapped_column(Integer, default=0)
    #: ``YYYY-MM`` of the last monthly grant; the grant is an UPDATE conditional on it.
    granted_month: Mapped[str] = mapped_column(String(7), default="")
