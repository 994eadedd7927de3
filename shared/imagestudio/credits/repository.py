"""SQL for credit accounts and the ledger: the service decides, this builds and runs the statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.credits.models import CreditAccount, CreditEntry, EntryKind
from imagestudio.db import is_postgres, table_of, utcnow
from imagestudio.quota.models import StorageAccount


class CreditRepository:
    def account(self, session: Session, *, tenant_id: str) -> tuple[int, int, int] | None:
        """The account row's (balance, reserved, active jobs); None when the tenant has none."""
        row = session.execute(
            select(CreditAccount.balance, CreditAccount.reserved, CreditAccount.active_jobs).where(
                CreditAccount.tenant_id == tenant_id
            )
        ).one_or_none()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def ledger_totals(self, session: Session, *, tenant_id: str) -> tuple[int, int]:
        """The ledger's sums of balance and reserved deltas for the tenant."""
        row = session.execute(
            select(
                func.coalesce(func.sum(CreditEntry.balance_delta), 0),
                func.coalesce(func.sum(CreditEntry.reserved_delta), 0),
            ).where(CreditEntry.tenant_id == tenant_id)
        ).one()
        return int(row[0]), int(row[1])

    def reserved_for_job(self, session: Session, *, tenant_id: str, job_id: str) -> int:
        """Credits the job's movements still hold (its reserve less what was captured or released)."""
        return int(
            session.scalar(
                select(func.coalesce(func.sum(CreditEntry.reserved_delta), 0)).where(
                    CreditEntry.tenant_id == tenant_id, CreditEntry.job_id == job_id
                )
            )
            or 0
        )

    def active_jobs(self, session: Session, *, tenant_id: str) -> int:
        return int(
            session.scalar(select(CreditAccount.active_jobs).where(CreditAccount.tenant_id == tenant_id)) or 0
        )

    def granted_month(self, session: Session, *, tenant_id: str) -> str | None:
        """The last month (``YYYY-MM``) granted to the account; None when the tenant has no account."""
        return session.scalar(select(CreditAccount.granted_month).where(CreditAccount.tenant_id == tenant_id))

    def stored_bytes(self, session: Session, *, tenant_id: str) -> int:
        return int(
            session.scalar(select(StorageAccount.stored_bytes).where(StorageAccount.tenant_id == tenant_id))
            or 0
        )

    def open_account(self, session: Session, *, tenant_id: str) -> None:
        """Insert an empty account row unless the tenant has one."""
        insert_ = postgresql.insert if is_postgres(session) else sqlite.insert
        session.execute(
            insert_(CreditAccount)
            .values(tenant_id=tenant_id, balance=0, reserved=0, active_jobs=0, granted_month="")
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )

    def lock_account(self, session: Session, *, tenant_id: str) -> None:
        """Lock the account row until the commit (PostgreSQL; SQLite serialises writers anyway)."""
        if is_postgres(session):
            session.execute(
                select(CreditAccount.tenant_id).where(CreditAccount.tenant_id == tenant_id).with_for_update()
            )

    def move(
        self, session: Session, *, tenant_id: str, balance: int = 0, reserved: int = 0, active: int = 0
    ) -> None:
        """Add the deltas to the account row."""
        session.execute(
            update(CreditAccount)
            .where(CreditAccount.tenant_id == tenant_id)
            .values(
                balance=CreditAccount.balance + balance,
                reserved=CreditAccount.reserved + reserved,
                active_jobs=CreditAccount.active_jobs + active,
            )
        )

    def add_entry_once(self, session: Session, entry: CreditEntry) -> bool:
        """Insert a movement unless one with its (tenant, kind, reference) exists; False when it did."""
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

    def grant_month(self, session: Session, *, tenant_id: str, month: str, amount: int, note: str) -> bool:
        """Add ``amount`` and its ledger row if the account was last granted before ``month``;
        False when it was not (granted already, or no account)."""
        moved = session.execute(
            update(CreditAccount)
            .where(CreditAccount.tenant_id == tenant_id, CreditAccount.granted_month < month)
            .values(balance=CreditAccount.balance + amount, granted_month=month)
            .returning(CreditAccount.tenant_id)
        ).first()
        if moved is None:
            return False
        session.execute(
            insert(CreditEntry).values(
                tenant_id=tenant_id,
                kind=EntryKind.grant.value,
                balance_delta=amount,
                reserved_delta=0,
                reference=f"month:{month}",
                note=note,
                created_at=utcnow(),
            )
        )
        return True

    def insert_reservations(
        self, session: Session, *, tenant_id: str, holds: Sequence[tuple[str, int]]
    ) -> None:
        """One reserve row per (job id, credits), in one INSERT."""
        rows = [
            {
                "tenant_id": tenant_id,
                "kind": EntryKind.reserve.value,
                "balance_delta": 0,
                "reserved_delta": cost,
                "job_id": job_id,
                "reference": f"job:{job_id}",
                "note": "",
                "created_at": utcnow(),
            }
            for job_id, cost in holds
        ]
        if rows:
            session.execute(insert(table_of(CreditEntry)), rows)

    def hold(
        self,
        session: Session,
        *,
        tenant_id: str,
        amount: int,
        slots: int,
        max_active: int | None,
        max_stored_bytes: int | None,
    ) -> bool:
        """Reserve ``amount`` and take ``slots`` in one conditional UPDATE; False when a condition fails."""
        account = table_of(CreditAccount).c  # Core: the ORM's update bookkeeping is not needed here
        conditions: list[ColumnElement[Any]] = [account.tenant_id == tenant_id]
        if amount:
            conditions.append(account.balance - account.reserved >= amount)
        if slots and max_active is not None:
            conditions.append(account.active_jobs + slots <= max_active)
        if max_stored_bytes is not None:
            storage = table_of(StorageAccount).c
            at_quota = select(storage.tenant_id).where(
                storage.tenant_id == tenant_id, storage.stored_bytes >= max_stored_bytes
            )
            conditions.append(~at_quota.exists())
        moved = session.execute(
            update(table_of(CreditAccount))
            .where(*conditions)
            .values(reserved=account.reserved + amount, active_jobs=account.active_jobs + slots)
            .returning(account.tenant_id)
        ).first()
        return moved is not None

    def recent(self, session: Session, *, tenant_id: str, limit: int) -> Sequence[CreditEntry]:
        return session.scalars(
            select(CreditEntry)
            .where(CreditEntry.tenant_id == tenant_id)
            .order_by(CreditEntry.id.desc())
            .limit(limit)
        ).all()


credit_repository = CreditRepository()
