"""SQL for assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, and_, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from imagestudio.assets.models import Asset, AssetUsage


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

    def delete_for_job(self, session: Session, *, job_id: str) -> list[str]:
        """Delete a job's asset rows; returns their storage keys."""
        keys = list(session.scalars(select(Asset.key).where(Asset.job_id == job_id)).all())
        if keys:
            session.execute(delete(Asset).where(Asset.job_id == job_id))
        return keys

    def get_for_tenant(self, session: Session, *, tenant_id: str, asset_id: str) -> Asset | None:
        return session.scalar(select(Asset).where(Asset.id == asset_id, Asset.tenant_id == tenant_id))

    def search(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        studio: str | None = None,
        provider: str | None = None,
        tag: str | None = None,
        favorite: bool | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        text: str | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> Sequence[Asset]:
        stmt = select(Asset).where(Asset.tenant_id == tenant_id)
        if studio:
            stmt = stmt.where(Asset.studio == studio)
        if provider:
            stmt = stmt.where(Asset.provider == provider)
        tags_text = func.lower(cast(Asset.tags, String))
        if tag:
            # Tags are a JSON list; matching the quoted element works the same in SQLite and PostgreSQL.
            stmt = stmt.where(tags_text.contains(f'"{tag.lower()}"', autoescape=True))
        if favorite is not None:
            stmt = stmt.where(Asset.favorite.is_(favorite))
        if created_after:
            stmt = stmt.where(Asset.created_at >= created_after)
        if created_before:
            stmt = stmt.where(Asset.created_at < created_before)
        if text:
            needle = text.lower()
            stmt = stmt.where(
                or_(
                    func.lower(func.coalesce(Asset.prompt, "")).contains(needle, autoescape=True),
                    tags_text.contains(needle, autoescape=True),
                    func.lower(Asset.name).contains(needle, autoescape=True),
                )
            )
        if before:
            created, asset_id = before
            stmt = stmt.where(
                or_(Asset.created_at < created, and_(Asset.created_at == created, Asset.id < asset_id))
            )
        return session.scalars(stmt.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit)).all()

    def usages(self, session: Session, *, asset_id: str) -> Sequence[AssetUsage]:
        return session.scalars(
            select(AssetUsage).where(AssetUsage.asset_id == asset_id).order_by(AssetUsage.id.desc())
        ).all()


asset_repository = AssetRepository()
