"""SQL for assets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagestudio.assets.models import Asset


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


asset_repository = AssetRepository()
