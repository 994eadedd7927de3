"""Reserving, capturing and releasing credits; every movement is one ledger row.

The gateway reserves a job's estimated cost in the transaction that records the job; the
transition that ends the job (succeed, fail, cancel) settles it in the same transaction:
captures what succeeded, releases the rest. Movements are unique per (tenant, kind, reference),
so a redelivered message can never capture twice.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from imagestudio.credits.models import CreditEntry, EntryKind
from imagestudio.credits.repository import credit_repository
from imagestudio.credits.tiers import get_tier
from imagestudio.errors import (
    ConcurrencyLimited,
    ImageStudioError,
    NotFound,
    PaymentRequired,
    StorageQuotaExceeded,
)
from imagestudio.tenants.models import Tenant


@dataclass(frozen=True)
class Balance:
    balance: int
    reserved: int

    @property
    def available(self) -> int:
        return self.balance - self.reserved


#: (tenant, ``YYYY-MM``) pairs this process has seen granted: the grant check costs nothing after.
_granted: set[tuple[str, str]] = set()
_granted_lock = threading.Lock()


def _remember_grants(session: Session) -> None:
    with _granted_lock:
        _granted.update(session.info.pop("granted_months", ()))


def _forget_grants(session: Session) -> None:
    session.info.pop("granted_months", None)


def _month(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m")


class CreditService:
    def balance(self, session: Session, *, tenant_id: str) -> Balance:
        """What the tenant owns and what running jobs hold (its account row)."""
        row = credit_repository.account(session, tenant_id=tenant_id)
        if row is None:
            return self.ledger_totals(session, tenant_id=tenant_id)
        return Balance(balance=row[0], reserved=row[1])

    def ledger_totals(self, session: Session, *, tenant_id: str) -> Balance:
        """The ledger's own sums: what the account row must always equal (checks, audits)."""
        balance, reserved = credit_repository.ledger_totals(session, tenant_id=tenant_id)
        return Balance(balance=balance, reserved=reserved)

    def active_jobs(self, session: Session, *, tenant_id: str) -> int:
        """Queued and running jobs of the tenant, as its account counts them."""
        return credit_repository.active_jobs(session, tenant_id=tenant_id)

    def open_account(self, session: Session, *, tenant_id: str) -> None:
        """Create the tenant's account row if it has none (new tenants; idempotent)."""
        credit_repository.open_account(session, tenant_id=tenant_id)

    def lock_tenant(self, session: Session, *, tenant_id: str) -> Tenant:
        """Serialise money movements of one tenant (operator grants, the credits page)."""
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such tenant")
        self.open_account(session, tenant_id=tenant_id)
        credit_repository.lock_account(session, tenant_id=tenant_id)
        return tenant

    def _move(
        self, session: Session, *, tenant_id: str, balance: int = 0, reserved: int = 0, active: int = 0
    ) -> None:
        """Apply ledger deltas (and a change of active jobs) to the account, in the caller's transaction."""
        if balance or reserved or active:
            credit_repository.move(
                session, tenant_id=tenant_id, balance=balance, reserved=reserved, active=active
            )

    def _add(self, session: Session, entry: CreditEntry) -> bool:
        """Insert a movement once and move the account by it; False when it already exists."""
        if not credit_repository.add_entry_once(session, entry):
            return False
        self._move(
            session,
            tenant_id=entry.tenant_id,
            balance=entry.balance_delta or 0,
            reserved=entry.reserved_delta or 0,
        )
        return True

    def grant_month(
        self, session: Session, *, tenant_id: str, tier: str, now: datetime | None = None
    ) -> None:
        """Grant the tier's monthly credits once per calendar month (UTC).

        The UPDATE is conditional on the month, so of two racing requests exactly one grants;
        once this process has seen the month granted it asks the database no more.
        """
        month = _month(now)
        if (tenant_id, month) in _granted:
            return
        amount = get_tier(tier).monthly_credits
        for _ in range(2):
            if credit_repository.grant_month(
                session, tenant_id=tenant_id, month=month, amount=amount, note=f"{tier} monthly grant"
            ):
                # Remembered only once committed: this transaction may still roll back.
                session.info.setdefault("granted_months", set()).add((tenant_id, month))
                if not event.contains(session, "after_commit", _remember_grants):
                    event.listen(session, "after_commit", _remember_grants)
                    event.listen(session, "after_rollback", _forget_grants)
                return
            granted = credit_repository.granted_month(session, tenant_id=tenant_id)
            if granted is not None:
                # Granted by this very transaction (not yet committed): remembered after commit.
                if (tenant_id, month) not in session.info.get("granted_months", ()):
                    with _granted_lock:
                        _granted.add((tenant_id, month))
                return
            self.open_account(session, tenant_id=tenant_id)

    def hold(
        self,
        session: Session,
        *,
        tenant_id: str,
        holds: Sequence[tuple[str, int]],
        max_active: int | None = None,
        jobs: int | None = None,
        max_stored_bytes: int | None = None,
    ) -> None:
        """Hold credits for jobs, (job id, amount) each, and one concurrency slot per job; or raise.

        One conditional UPDATE of the account row: it succeeds only while the tenant can afford the
        total, has the slots free and (with ``max_stored_bytes``) is not at its storage quota, so
        parallel submissions never overdraw, and the row is locked only from this statement to
        the commit: call it as late in the transaction as possible. Jobs that cost nothing take no
        credit check, only the slot. Raises 422 (storage), 402 or 429 (the caller rolls back).
        """
        amount = sum(cost for _, cost in holds if cost > 0)
        slots = len(holds) if jobs is None else jobs
        credit_repository.insert_reservations(
            session, tenant_id=tenant_id, holds=[(job_id, cost) for job_id, cost in holds if cost > 0]
        )
        if not amount and not (slots and max_active is not None) and max_stored_bytes is None:
            self._move(session, tenant_id=tenant_id, active=slots)
            return
        if not credit_repository.hold(
            session,
            tenant_id=tenant_id,
            amount=amount,
            slots=slots,
            max_active=max_active,
            max_stored_bytes=max_stored_bytes,
        ):
            raise self.refusal(
                session,
                tenant_id=tenant_id,
                amount=amount,
                max_active=max_active,
                max_stored_bytes=max_stored_bytes,
            )

    def refusal(
        self,
        session: Session,
        *,
        tenant_id: str,
        amount: int,
        max_active: int | None = None,
        max_stored_bytes: int | None = None,
    ) -> ImageStudioError:
        """Why the tenant cannot take a job: at its storage quota (422), ``amount`` more credits
        than it has (402) or another job (429), from its account rows."""
        if max_stored_bytes is not None:
            stored = credit_repository.stored_bytes(session, tenant_id=tenant_id)
            if stored >= max_stored_bytes:
                return StorageQuotaExceeded(
                    used=stored, requested=0, quota=max_stored_bytes, what="A new job's outputs"
                )
        row = credit_repository.account(session, tenant_id=tenant_id)
        if row is None:
            return NotFound("No such tenant")
        balance, reserved, active = row
        if amount > 0 and amount > balance - reserved:
            return PaymentRequired(
                f"This job costs {amount} credits; {balance - reserved} are available.",
                extra={
                    "balance": balance,
                    "reserved": reserved,
                    "available": balance - reserved,
                    "cost": amount,
                },
            )
        return ConcurrencyLimited(active=active, allowed=max_active or 0)

    def free_slot(self, session: Session, *, tenant_id: str) -> None:
        """Give back a job's concurrency slot (the transition that ended the job calls this, once)."""
        self._move(session, tenant_id=tenant_id, active=-1)

    def settle(
        self, session: Session, *, tenant_id: str, job_id: str, captures: Sequence[tuple[str, int]] = ()
    ) -> tuple[int, int]:
        """Capture each (item, credits) that succeeded and release the rest; returns (charged, released) now."""
        reserved = credit_repository.reserved_for_job(session, tenant_id=tenant_id, job_id=job_id)
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

    def reprice(self, session: Session, *, tenant_id: str, job_id: str, cost: int) -> int:
        """Bring a running job's hold to ``cost`` (priced once its images were known): the rest
        released now, or the difference held (402 when the tenant cannot afford it); returns the
        credits released (negative: held more).

        One movement per job (reference ``job:<id>:priced``): a redelivery moves nothing more.
        """
        held = credit_repository.reserved_for_job(session, tenant_id=tenant_id, job_id=job_id)
        if cost == held:
            return 0
        entry = CreditEntry(
            tenant_id=tenant_id,
            kind=EntryKind.release if cost < held else EntryKind.reserve,
            reserved_delta=cost - held,
            job_id=job_id,
            reference=f"job:{job_id}:priced",
        )
        if cost < held:
            return held - cost if self._add(session, entry) else 0
        if not credit_repository.add_entry_once(session, entry):
            return 0
        extra = cost - held
        if not credit_repository.hold(
            session, tenant_id=tenant_id, amount=extra, slots=0, max_active=None, max_stored_bytes=None
        ):
            raise self.refusal(session, tenant_id=tenant_id, amount=extra)
        return -extra

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
        self._move(session, tenant_id=tenant_id, balance=amount)
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
        return credit_repository.recent(session, tenant_id=tenant_id, limit=limit)


credit_service = CreditService()
