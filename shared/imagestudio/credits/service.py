"""Reserving, capturing and releasing credits; every movement is one ledger row.

The gateway reserves a job's estimated cost in the transaction that records the job; the
transition that ends the job (succeed, fail, cancel) settles it in the same transaction:
captures what succeeded, releases the rest. Movements are unique per (tenant, kind, reference),
so a redelivered message can never capture twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.credits.models import CreditEntry, EntryKind
from imagestudio.credits.tiers import get_tier
from imagestudio.db import is_postgres
from imagestudio.errors import NotFound, PaymentRequired
from imagestudio.tenants.models import Tenant


@dataclass(frozen=True)
class Balance:
    balance: int
    reserved: int

    @property
    def available(self) -> int:
        return self.balance - self.reserved


class CreditService:
    def balance(self, session: Session, *, tenant_id: str) -> Balance:
        row = session.execute(
            select(
                func.coalesce(func.sum(CreditEntry.balance_delta), 0),
                func.coalesce(func.sum(CreditEntry.reserved_delta), 0),
            ).where(CreditEntry.tenant_id == tenant_id)
        ).one()
        return Balance(balance=int(row[0]), reserved=int(row[1]))

    def lock_tenant(self, session: Session, *, tenant_id: str) -> Tenant:
        """Serialise money movements of one tenant (SQLite transactions are already exclusive)."""
        if is_postgres(session):
            session.execute(text("SELECT id FROM tenants WHERE id = :id FOR UPDATE"), {"id": tenant_id})
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such tenant")
        return tenant

    def _add(self, session: Session, entry: CreditEntry) -> bool:
        """Insert a movement once; False when the same movement already exists."""
        exists = session.scalar(
            select(CreditEntry.id).where(
                CreditEntry.tenant_id == entry.tenant_id,
                CreditEntry.kind == entry.kind,
                CreditEntry.reference == entry.reference,
            )
        )
        if exists is not None:
            return False
        nested = session.begin_nested()
        session.add(entry)
        try:
            nested.commit()
        except IntegrityError:
            nested.rollback()
            return False
        return True

    def ensure_monthly_grant(self, session: Session, *, tenant: Tenant, now: datetime | None = None) -> None:
        month = (now or datetime.now(UTC)).strftime("%Y-%m")
        amount = get_tier(tenant.tier).monthly_credits
        self._add(
            session,
            CreditEntry(
                tenant_id=tenant.id,
                kind=EntryKind.grant,
                balance_delta=amount,
                reference=f"month:{month}",
                note=f"{tenant.tier} monthly grant",
            ),
        )

    def reserve(self, session: Session, *, tenant_id: str, job_id: str, amount: int) -> None:
        """Hold ``amount`` for a job, or raise 402 with the balance and the cost."""
        tenant = self.lock_tenant(session, tenant_id=tenant_id)
        self.ensure_monthly_grant(session, tenant=tenant)
        if amount <= 0:
            return
        current = self.balance(session, tenant_id=tenant_id)
        if amount > current.available:
            raise PaymentRequired(
                f"This job costs {amount} credits; {current.available} are available.",
                extra={
                    "balance": current.balance,
                    "reserved": current.reserved,
                    "available": current.available,
                    "cost": amount,
                },
            )
        self._add(
            session,
            CreditEntry(
                tenant_id=tenant_id,
                kind=EntryKind.reserve,
                reserved_delta=amount,
                job_id=job_id,
                reference=f"job:{job_id}",
            ),
        )

    def settle(
        self, session: Session, *, tenant_id: str, job_id: str, captures: Sequence[tuple[str, int]] = ()
    ) -> tuple[int, int]:
        """Capture each (item, credits) that succeeded and release the rest; returns (charged, released) now."""
        reserved = int(
            session.scalar(
                select(func.coalesce(func.sum(CreditEntry.reserved_delta), 0)).where(
                    CreditEntry.tenant_id == tenant_id, CreditEntry.job_id == job_id
                )
            )
            or 0
        )
        captured = charged = 0
        for item, amount in captures:
            if amount <= 0:
                continue
            held = min(amount, max(reserved - captured, 0))
            if self._add(
                session,
                CreditEntry(
                    tenant_id=tenant_id,
                    kind=EntryKind.capture,
                    balance_delta=-amount,
                    reserved_delta=-held,
                    job_id=job_id,
                    reference=f"job:{job_id}:{item}",
                ),
            ):
                captured += held
                charged += amount
        rest = reserved - captured
        released = 0
        if rest > 0 and self._add(
            session,
            CreditEntry(
                tenant_id=tenant_id,
                kind=EntryKind.release,
                reserved_delta=-rest,
                job_id=job_id,
                reference=f"job:{job_id}",
            ),
        ):
            released = rest
        return charged, released

    def grant(
        self,
        session: Session,
        *,
        tenant_id: str,
        amount: int,
        note: str = "",
        kind: EntryKind = EntryKind.grant,
    ) -> CreditEntry:
        """An operator's grant, refund or adjustment (negative amounts only as adjust)."""
        self.lock_tenant(session, tenant_id=tenant_id)
        entry = CreditEntry(
            tenant_id=tenant_id,
            kind=kind,
            balance_delta=amount,
            reference=f"{kind}:{uuid.uuid4()}",
            note=note,
        )
        session.add(entry)
        session.flush()
        return entry

    def recent(self, session: Session, *, tenant_id: str, limit: int = 50) -> Sequence[CreditEntry]:
        return session.scalars(
            select(CreditEntry)
            .where(CreditEntry.tenant_id == tenant_id)
            .order_by(CreditEntry.id.desc())
            .limit(limit)
        ).all()


credit_service = CreditService()
