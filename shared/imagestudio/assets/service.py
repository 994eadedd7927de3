"""Recording job outputs as assets and signing their download links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.assets.models import Asset
from imagestudio.assets.repository import asset_repository
from imagestudio.config import get_settings
from imagestudio.jobs.schemas import JobOutput
from imagestudio.storage import get_store


class AssetService:
    def record_output(
        self,
        session: Session,
        *,
        tenant_id: str,
        job_id: str,
        studio: str,
        name: str,
        key: str,
        **fields: Any,
    ) -> Asset:
        """Insert or rewrite the asset for (job, name): a redelivered job never adds a second one."""
        asset = asset_repository.by_job_and_name(session, job_id=job_id, name=name)
        if asset is None:
            asset = Asset(tenant_id=tenant_id, job_id=job_id, studio=studio, name=name, key=key, **fields)
            nested = session.begin_nested()
            session.add(asset)
            try:
                nested.commit()
                return asset
            except IntegrityError:
                # A concurrent delivery of the same job inserted it first: update that row instead.
                nested.rollback()
                asset = asset_repository.by_job_and_name(session, job_id=job_id, name=name)
                assert asset is not None
        asset.key = key
        for field, value in fields.items():
            setattr(asset, field, value)
        return asset

    def for_job(self, session: Session, *, job_id: str) -> Sequence[Asset]:
        return asset_repository.for_job(session, job_id=job_id)

    def outputs_for_jobs(self, session: Session, *, job_ids: Sequence[str]) -> dict[str, list[JobOutput]]:
        ttl = get_settings().url_ttl_seconds
        store = get_store()
        grouped: dict[str, list[JobOutput]] = {job_id: [] for job_id in job_ids}
        for asset in asset_repository.for_jobs(session, job_ids=job_ids):
            link = store.presigned_url(asset.key, ttl_seconds=ttl)
            grouped[asset.job_id].append(
                JobOutput(
                    id=asset.id,
                    name=asset.name,
                    kind=asset.kind,
                    format=asset.format,
                    content_type=asset.content_type,
                    width=asset.width,
                    height=asset.height,
                    bytes=asset.bytes,
                    url=link.url,
                    expires_at=link.expires_at,
                    metadata=asset.meta,
                )
            )
        return grouped


asset_service = AssetService()
