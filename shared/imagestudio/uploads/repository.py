"""SQL for uploads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from imagestudio.db import update_rows
from imagestudio.paging import newest_first
from imagestudio.uploads.models import Upload, UploadState


class UploadRepository:
    def get_for_tenant(self, session: Session, *, tenant_id: str, upload_id: str) -> Upload | None:
        return session.scalar(select(Upload).where(Upload.id == upload_id, Upload.tenant_id == tenant_id))

    def page(
        self,
        session: Session,
        *,
        tenant_id: str,
        now: datetime,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> Sequence[Upload]:
        """A tenant's live uploads (not expired), newest first, on ``ix_uploads_tenant_created``."""
        stmt = select(Upload).where(Upload.tenant_id == tenant_id, Upload.expires_at > now)
        return session.scalars(
            newest_first(stmt, created_at=Upload.created_at, row_id=Upload.id, before=before, limit=limit)
        ).all()

    def expired(
        self, session: Session, *, now: datetime, limit: int, after: tuple[datetime, str] | None = None
    ) -> Sequence[Upload]:
        """Uploads expired by ``now``, oldest first, after the keyset ``(expires_at, id)`` when given."""
        stmt = select(Upload).where(Upload.expires_at <= now)
        if after is not None:
            expires_at, upload_id = after
            stmt = stmt.where(
                or_(
                    Upload.expires_at > expires_at,
                    and_(Upload.expires_at == expires_at, Upload.id > upload_id),
                )
            )
        return session.scalars(stmt.order_by(Upload.expires_at, Upload.id).limit(limit)).all()

    def mark_ready(
        self,
        session: Session,
        *,
        upload_id: str,
        key: str,
        content_type: str,
        size_bytes: int,
        image: Mapping[str, object],
    ) -> bool:
        """Record the checked object and what its header said; guarded, so concurrent first uses
        write once. False when the upload was no longer pending (checked meanwhile, or deleted)."""
        result = session.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.state == UploadState.pending.value)
            .values(
                state=UploadState.ready.value,
                key=key,
                content_type=content_type,
                bytes=size_bytes,
                **image,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def keys_for_tenant(self, session: Session, *, tenant_id: str) -> set[str]:
        """The object key of every upload row of a tenant (expired ones too: their objects are the sweep's)."""
        return set(session.scalars(select(Upload.key).where(Upload.tenant_id == tenant_id)))

    def expire(self, session: Session, *, upload_id: str, now: datetime) -> None:
        update_rows(session, Upload, Upload.id == upload_id, expires_at=now)

    def delete(self, session: Session, *, upload_ids: Sequence[str]) -> list[tuple[str, int]]:
        """Delete rows by id; rows another replica already deleted are simply not there.

        Returns ``(tenant_id, bytes)`` of the rows this statement deleted (their storage to release).
        """
        if not upload_ids:
            return []
        rows = session.execute(
            delete(Upload)
            .where(Upload.id.in_(list(upload_ids)))
            .returning(Upload.tenant_id, Upload.bytes)
            .execution_options(synchronize_session=False)
        ).all()
        return [(tenant_id, int(size)) for tenant_id, size in rows]


upload_repository = UploadRepository()
