"""SQL for assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Delete, String, and_, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from imagestudio.assets.models import Asset, AssetUsage
from imagestudio.assets.schemas import AssetFilter
from imagestudio.jobs.models import Job, JobStatus
from imagestudio.paging import newest_first

#: A deleted asset row: its storage key, its tenant and the bytes it counted.
DeletedAsset = tuple[str, str, int]


class AssetRepository:
    def for_job(self, session: Session, *, job_id: str) -> Sequence[Asset]:
        return session.scalars(
            select(Asset).where(Asset.job_id == job_id).order_by(Asset.position, Asset.name)
        ).all()

    def for_jobs(self, session: Session, *, job_ids: Sequence[str]) -> Sequence[Asset]:
        if not job_ids:
            return []
        return session.scalars(
            select(Asset).where(Asset.job_id.in_(job_ids)).order_by(Asset.position, Asset.name)
        ).all()

    def by_job_and_name(self, session: Session, *, job_id: str, name: str) -> Asset | None:
        return session.scalar(select(Asset).where(Asset.job_id == job_id, Asset.name == name))

    def delete_for_job(self, session: Session, *, job_id: str) -> list[DeletedAsset]:
        """Delete a job's asset rows; returns what this statement deleted."""
        return self._deleted(session, delete(Asset).where(Asset.job_id == job_id))

    def delete_ids(self, session: Session, *, asset_ids: Sequence[str]) -> list[DeletedAsset]:
        """Delete rows by id; a row another replica deleted first is not returned (nor released twice)."""
        if not asset_ids:
            return []
        return self._deleted(session, delete(Asset).where(Asset.id.in_(list(asset_ids))))

    def _deleted(self, session: Session, stmt: Delete) -> list[DeletedAsset]:
        rows = session.execute(
            stmt.returning(Asset.key, Asset.tenant_id, Asset.bytes).execution_options(
                synchronize_session=False
            )
        ).all()
        return [(key, tenant_id, int(size)) for key, tenant_id, size in rows]

    def expired(
        self,
        session: Session,
        *,
        created_before: datetime,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> Sequence[Asset]:
        """Assets created before ``created_before``, not favourites, oldest first, after the keyset
        ``(created_at, id)`` when given: what the retention sweep deletes."""
        stmt = (
            select(Asset)
            .join(Job, Job.id == Asset.job_id)
            .where(
                Asset.created_at < created_before,
                Asset.favorite.is_(False),
                # A queued or running job may still write, or read, its outputs.
                Job.status.not_in([JobStatus.queued.value, JobStatus.running.value]),
            )
        )
        if after is not None:
            created, asset_id = after
            stmt = stmt.where(
                or_(Asset.created_at > created, and_(Asset.created_at == created, Asset.id > asset_id))
            )
        return session.scalars(stmt.order_by(Asset.created_at, Asset.id).limit(limit)).all()

    def get_for_tenant(self, session: Session, *, tenant_id: str, asset_id: str) -> Asset | None:
        return session.scalar(select(Asset).where(Asset.id == asset_id, Asset.tenant_id == tenant_id))

    def search(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        filters: AssetFilter,
        before: tuple[datetime, str] | None = None,
    ) -> Sequence[Asset]:
        f = filters
        stmt = select(Asset).where(Asset.tenant_id == tenant_id)
        if f.studio:
            stmt = stmt.where(Asset.studio == f.studio)
        if f.provider:
            stmt = stmt.where(Asset.provider == f.provider)
        tags_text = func.lower(cast(Asset.tags, String))
        if f.tag:
            # Tags are a JSON list; matching the quoted element works the same in SQLite and PostgreSQL.
            stmt = stmt.where(tags_text.contains(f'"{f.tag.lower()}"', autoescape=True))
        if f.favorite is not None:
            stmt = stmt.where(Asset.favorite.is_(f.favorite))
        if f.created_after:
            stmt = stmt.where(Asset.created_at >= f.created_after)
        if f.created_before:
            stmt = stmt.where(Asset.created_at < f.created_before)
        if f.text:
            needle = f.text.lower()
            stmt = stmt.where(
                or_(
                    func.lower(func.coalesce(Asset.prompt, "")).contains(needle, autoescape=True),
                    tags_text.contains(needle, autoescape=True),
                    func.lower(Asset.name).contains(needle, autoescape=True),
                )
            )
        return session.scalars(
            newest_first(stmt, created_at=Asset.created_at, row_id=Asset.id, before=before, limit=limit)
        ).all()

    def usages(self, session: Session, *, asset_id: str) -> Sequence[AssetUsage]:
        return session.scalars(
            select(AssetUsage).where(AssetUsage.asset_id == asset_id).order_by(AssetUsage.id.desc())
        ).all()


asset_repository = AssetRepository()
