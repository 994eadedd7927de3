"""Counting each tenant's stored bytes and refusing what would take it past its quota.

Everything a tenant keeps in storage has a row carrying its size: an upload (``uploads.bytes``,
the declared size while pending) and a job output (``assets.bytes``). Each transaction that adds
or deletes such a row moves the tenant's :class:`StorageAccount` by the same bytes, so the
counter always equals the sum of the rows, and admitting an output is one conditional UPDATE.

Callers add with :meth:`StorageQuotaService.charge` (refused past the quota: 422) and take away
with :meth:`StorageQuotaService.release`, handing it the rows a ``DELETE … RETURNING`` really
removed, so two replicas deleting the same row release its bytes once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from imagestudio.credits.tier_service import tier_service
from imagestudio.db import is_postgres
from imagestudio.errors import StorageQuotaExceeded
from imagestudio.quota.models import StorageAccount


class StorageQuotaService:
    def used(self, session: Session, *, tenant_id: str) -> int:
        """Bytes the tenant stores now (uploads and job outputs)."""
        value = session.scalar(
            select(StorageAccount.stored_bytes).where(StorageAccount.tenant_id == tenant_id)
        )
        return int(value or 0)

    def quota(self, session: Session, *, tenant_id: str) -> int:
        """The tenant's quota: its tier's ``max_stored_bytes``, or its override (cached a few seconds)."""
        return tier_service.limits_of(session, tenant_id=tenant_id).max_stored_bytes

    def check_room(self, session: Session, *, tenant_id: str, incoming: int, what: str) -> None:
        """Refuse (422) before anything is stored: the tenant is at its quota, or ``incoming`` would pass it.

        A read, no lock: :meth:`charge` is the exact check, in the transaction that records the bytes.
        """
        quota = self.quota(session, tenant_id=tenant_id)
        used = self.used(session, tenant_id=tenant_id)
        if used >= quota or used + incoming > quota:
            raise StorageQuotaExceeded(used=used, requested=incoming, quota=quota, what=what)

    def charge(self, session: Session, *, tenant_id: str, size_bytes: int, what: str) -> None:
        """Count ``size_bytes`` more for the tenant in the caller's transaction, or raise ``StorageQuotaExceeded`` (422).

        One conditional upsert: on PostgreSQL two transactions charging the same tenant serialise
        on its row, and the second sees the first's bytes, so together they never pass the quota.
        """
        if size_bytes <= 0:
            self.release(session, tenant_id=tenant_id, size_bytes=-size_bytes)
            return
        quota = self.quota(session, tenant_id=tenant_id)
        if size_bytes > quota:
            raise StorageQuotaExceeded(
                used=self.used(session, tenant_id=tenant_id), requested=size_bytes, quota=quota, what=what
            )
        insert = postgresql.insert if is_postgres(session) else sqlite.insert
        upsert = (
            insert(StorageAccount)
            .values(tenant_id=tenant_id, stored_bytes=size_bytes)
            .on_conflict_do_update(
                index_elements=["tenant_id"],
                set_={"stored_bytes": StorageAccount.stored_bytes + size_bytes},
                where=StorageAccount.stored_bytes + size_bytes <= quota,
            )
            .returning(StorageAccount.stored_bytes)
        )
        if session.execute(upsert).first() is None:
            used = self.used(session, tenant_id=tenant_id)
            raise StorageQuotaExceeded(used=used, requested=size_bytes, quota=quota, what=what)

    def add(self, session: Session, *, tenant_id: str, size_bytes: int) -> None:
        """Count ``size_bytes`` (may be negative) without a quota check: a correction of what was counted."""
        if size_bytes == 0:
            return
        insert = postgresql.insert if is_postgres(session) else sqlite.insert
        stmt = insert(StorageAccount).values(tenant_id=tenant_id, stored_bytes=size_bytes)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id"], set_={"stored_bytes": StorageAccount.stored_bytes + size_bytes}
            )
        )

    def release(self, session: Session, *, tenant_id: str, size_bytes: int) -> None:
        """Stop counting ``size_bytes`` of the tenant's (rows deleted in the caller's transaction)."""
        if size_bytes > 0:
            session.execute(
                update(StorageAccount)
                .where(StorageAccount.tenant_id == tenant_id)
                .values(stored_bytes=StorageAccount.stored_bytes - size_bytes)
                .execution_options(synchronize_session=False)
            )

    def release_rows(self, session: Session, rows: Iterable[tuple[str, int]]) -> None:
        """Release the ``(tenant_id, bytes)`` of rows a ``DELETE … RETURNING`` removed, one UPDATE per tenant."""
        totals: Counter[str] = Counter()
        for tenant_id, size_bytes in rows:
            totals[tenant_id] += int(size_bytes or 0)
        for tenant_id, size_bytes in sorted(totals.items()):  # one lock order for every sweep
            self.release(session, tenant_id=tenant_id, size_bytes=size_bytes)


storage_quota_service = StorageQuotaService()
