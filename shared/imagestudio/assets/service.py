"""Assets: recording job outputs, the library (search, favourites, tags, usage), deletion, retention.

Every asset row's ``bytes`` is counted in its tenant's storage (``quota/``): recording an output
charges it (refused past the quota), and each deletion (withdrawn, deleted by the tenant, swept
after ``asset_retention_seconds`` or after its job's ``output_retention_seconds``) releases the
rows its statement really removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.assets.models import Asset, AssetUsage
from imagestudio.assets.repository import asset_repository
from imagestudio.assets.schemas import (
    AssetFilter,
    AssetPage,
    AssetRead,
    AssetUsageRead,
    BulkAction,
    BulkResponse,
    BulkResult,
)
from imagestudio.config import get_settings
from imagestudio.db import utcnow
from imagestudio.errors import ImageStudioError, NotFound, StorageError, ValidationFailed
from imagestudio.jobs.schemas import JobOutput
from imagestudio.paging import read_page
from imagestudio.quota.service import storage_quota_service
from imagestudio.storage import PresignedUrl, get_store
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: ``session.info`` key of the storage keys a transaction withdrew, deleted once it commits.
_WITHDRAWN = "imagestudio.withdrawn_keys"


def _delete_withdrawn(session: Session) -> None:
    """After commit: delete the withdrawn objects (a failure leaves an object no link points to)."""
    keys = session.info.pop(_WITHDRAWN, [])
    if keys:
        store = get_store()
        for key in keys:
            try:
                store.delete(key)
            except Exception as exc:  # the rows are gone: the object is unreachable, log and go on
                log.warning("asset.withdraw_delete_failed", storage_key=key, error=str(exc))


def _forget_withdrawn(session: Session) -> None:
    session.info.pop(_WITHDRAWN, None)


#: Expired assets read per retention sweep query.
SWEEP_BATCH = 500

#: Longest tag kept; tags are lower-cased and trimmed so search and filters are predictable.
MAX_TAG_LENGTH = 50


def normalise_tags(tags: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH or '"' in tag:
            raise ValidationFailed("tags", f"tags are 1-{MAX_TAG_LENGTH} characters without quotes: {raw!r}")
        if tag not in out:
            out.append(tag)
    return out


class AssetService:
    # --- written by workers -------------------------------------------------------------------
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
        """Insert or rewrite the asset for (job, name): a redelivered job never adds a second one.

        Its ``bytes`` are charged to the tenant's storage in the caller's transaction (a rewrite
        charges the difference); raises ``StorageQuotaExceeded`` when they do not fit.
        """
        size_bytes = int(fields.get("bytes", 0))
        what = f"Output {name!r}"
        asset = asset_repository.by_job_and_name(session, job_id=job_id, name=name)
        if asset is None:
            asset = Asset(tenant_id=tenant_id, job_id=job_id, studio=studio, name=name, key=key, **fields)
            nested = session.begin_nested()
            session.add(asset)
            try:
                nested.commit()
                storage_quota_service.charge(session, tenant_id=tenant_id, size_bytes=size_bytes, what=what)
                return asset
            except IntegrityError:
                # A concurrent delivery of the same job inserted it first: update that row instead.
                nested.rollback()
                asset = asset_repository.by_job_and_name(session, job_id=job_id, name=name)
                assert asset is not None
        storage_quota_service.charge(
            session, tenant_id=tenant_id, size_bytes=size_bytes - (asset.bytes or 0), what=what
        )
        asset.key = key
        for field, value in fields.items():
            setattr(asset, field, value)
        return asset

    def check_room(self, session: Session, *, tenant_id: str, job_id: str, name: str, data: bytes) -> None:
        """Refuse (422) an output that would take the tenant past its quota, before it is stored.

        A read only: ``record_output`` charges it exactly. A rewrite counts only what it adds.
        """
        existing = asset_repository.by_job_and_name(session, job_id=job_id, name=name)
        incoming = len(data) - (existing.bytes if existing is not None else 0)
        if incoming > 0:
            storage_quota_service.check_room(
                session, tenant_id=tenant_id, incoming=incoming, what=f"Output {name!r}"
            )

    def withdraw(self, session: Session, *, job_id: str) -> list[str]:
        """Withdraw a canceled or failed job's outputs: nothing it wrote is served, or charged.

        The rows go in the caller's transaction (with the transition that ended the job); the
        objects are deleted once that transaction commits, never before, nor on rollback.
        Returns the withdrawn storage keys.
        """
        deleted = asset_repository.delete_for_job(session, job_id=job_id)
        storage_quota_service.release_rows(session, [(tenant, size) for _, tenant, size in deleted])
        keys = [key for key, _, _ in deleted]
        if keys:
            session.info.setdefault(_WITHDRAWN, []).extend(keys)
            if not event.contains(session, "after_commit", _delete_withdrawn):
                event.listen(session, "after_commit", _delete_withdrawn)
                event.listen(session, "after_rollback", _forget_withdrawn)
        return keys

    def for_job(self, session: Session, *, job_id: str) -> Sequence[Asset]:
        return asset_repository.for_job(session, job_id=job_id)

    def outputs_for_jobs(self, session: Session, *, job_ids: Sequence[str]) -> dict[str, list[JobOutput]]:
        ttl = get_settings().url_ttl_seconds
        store = get_store()
        grouped: dict[str, list[JobOutput]] = {job_id: [] for job_id in job_ids}
        for asset in asset_repository.for_jobs(session, job_ids=job_ids):
            grouped[asset.job_id].append(self._output(asset, store.presigned_url(asset.key, ttl_seconds=ttl)))
        return grouped

    def _output(self, asset: Asset, link: PresignedUrl) -> JobOutput:
        """The asset as one output of its job, downloadable through ``link``."""
        return JobOutput(
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

    # --- the library --------------------------------------------------------------------------
    def to_read(self, asset: Asset) -> AssetRead:
        link = get_store().presigned_url(asset.key, ttl_seconds=get_settings().url_ttl_seconds)
        return AssetRead(
            **self._output(asset, link).model_dump(),
            job_id=asset.job_id,
            studio=asset.studio,
            provider=asset.provider,
            prompt=asset.prompt,
            tags=list(asset.tags or []),
            favorite=asset.favorite,
            usage_count=asset.usage_count,
            last_used_at=asset.last_used_at,
            created_at=asset.created_at,
        )

    def get(self, session: Session, *, tenant_id: str, asset_id: str) -> Asset:
        asset = asset_repository.get_for_tenant(session, tenant_id=tenant_id, asset_id=asset_id)
        if asset is None:  # another tenant's asset is indistinguishable from a missing one
            raise NotFound(f"No asset {asset_id}")
        return asset

    def search(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        filters: AssetFilter,
        cursor: str | None = None,
    ) -> AssetPage:
        page, next_cursor = read_page(
            lambda rows, before: asset_repository.search(
                session, tenant_id=tenant_id, limit=rows, filters=filters, before=before
            ),
            limit=limit,
            cursor=cursor,
        )
        return AssetPage(items=[self.to_read(a) for a in page], next_cursor=next_cursor)

    def update(
        self,
        session: Session,
        *,
        tenant_id: str,
        asset_id: str,
        tags: Sequence[str] | None = None,
        favorite: bool | None = None,
    ) -> Asset:
        asset = self.get(session, tenant_id=tenant_id, asset_id=asset_id)
        if tags is not None:
            asset.tags = normalise_tags(tags)
        if favorite is not None:
            asset.favorite = favorite
        session.commit()
        return asset

    def add_tags(self, session: Session, *, asset: Asset, tags: Sequence[str], remove: bool = False) -> None:
        wanted = normalise_tags(tags)
        current = list(asset.tags or [])
        asset.tags = (
            [t for t in current if t not in wanted]
            if remove
            else current + [t for t in wanted if t not in current]
        )

    def record_usage(
        self, session: Session, *, tenant_id: str, asset_id: str, used_in: str, note: str = ""
    ) -> Asset:
        asset = self.get(session, tenant_id=tenant_id, asset_id=asset_id)
        session.add(AssetUsage(asset_id=asset.id, used_in=used_in, note=note))
        asset.usage_count = (asset.usage_count or 0) + 1
        asset.last_used_at = utcnow()
        session.commit()
        return asset

    def usages(self, session: Session, *, tenant_id: str, asset_id: str) -> list[AssetUsageRead]:
        asset = self.get(session, tenant_id=tenant_id, asset_id=asset_id)
        return [
            AssetUsageRead(used_in=u.used_in, note=u.note, created_at=u.created_at)
            for u in asset_repository.usages(session, asset_id=asset.id)
        ]

    def delete(self, session: Session, *, tenant_id: str, asset_id: str) -> None:
        """Remove the object from storage, then the row (a failed storage delete keeps the row)."""
        asset = self.get(session, tenant_id=tenant_id, asset_id=asset_id)
        get_store().delete(asset.key)
        deleted = asset_repository.delete_ids(session, asset_ids=[asset.id])
        storage_quota_service.release_rows(session, [(tenant, size) for _, tenant, size in deleted])
        session.commit()

    def sweep(
        self,
        session: Session,
        *,
        in_use: Callable[[Session], set[str]],
        now: datetime | None = None,
    ) -> int:
        """Delete assets older than ``asset_retention_seconds`` with their objects; free their bytes.

        Spared: favourites, outputs of a queued or running job, and objects a queued or running
        job reads (``in_use``, asked only when something expired). An object the store fails to
        delete keeps its row (the next sweep retries). Safe with several replicas at once: a row
        two of them delete is released once. Returns how many assets were deleted.
        """
        retention = get_settings().asset_retention_seconds
        if retention <= 0:
            return 0
        cutoff = (now or utcnow()) - timedelta(seconds=retention)
        store = get_store()
        keys_in_use: set[str] | None = None
        deleted = 0
        after: tuple[datetime, str] | None = None
        while True:
            batch = asset_repository.expired(session, created_before=cutoff, limit=SWEEP_BATCH, after=after)
            if not batch:
                break
            if keys_in_use is None:
                keys_in_use = in_use(session)
            gone: list[str] = []
            for asset in batch:
                if asset.key in keys_in_use:
                    continue
                try:
                    store.delete(asset.key)
                except StorageError as exc:  # store away: keep the row, the next sweep retries
                    log.warning("asset.sweep_failed", asset_id=asset.id, error=repr(exc))
                    continue
                gone.append(asset.id)
            removed = asset_repository.delete_ids(session, asset_ids=gone)
            storage_quota_service.release_rows(session, [(tenant, size) for _, tenant, size in removed])
            session.commit()
            deleted += len(removed)
            if len(batch) < SWEEP_BATCH:
                break
            after = (batch[-1].created_at, batch[-1].id)
        if deleted:
            log.info("assets.swept", deleted=deleted, retention_seconds=retention)
        return deleted

    def delete_job_outputs(self, session: Session, *, job_id: str) -> tuple[int, bool]:
        """Delete a job's outputs with their objects, favourites too (the submission asked for it
        with ``output_retention_seconds``: a deletion promised is kept); frees their bytes.

        Returns (rows deleted, whether every output is gone); an object the store fails to delete
        keeps its row for the next sweep. The caller commits.
        """
        store = get_store()
        gone: list[str] = []
        complete = True
        for asset in asset_repository.for_job(session, job_id=job_id):
            try:
                store.delete(asset.key)
            except StorageError as exc:  # store away: keep the row, the next sweep retries
                log.warning("asset.sweep_failed", asset_id=asset.id, error=repr(exc))
                complete = False
                continue
            gone.append(asset.id)
        removed = asset_repository.delete_ids(session, asset_ids=gone)
        storage_quota_service.release_rows(session, [(tenant, size) for _, tenant, size in removed])
        return len(removed), complete

    def bulk(self, session: Session, *, tenant_id: str, action: BulkAction) -> BulkResponse:
        """Apply one action to up to 100 assets; each id gets its own result."""
        results: list[BulkResult] = []
        for asset_id in dict.fromkeys(action.ids):  # de-duplicated, order kept
            try:
                if action.action == "delete":
                    self.delete(session, tenant_id=tenant_id, asset_id=asset_id)
                else:
                    asset = self.get(session, tenant_id=tenant_id, asset_id=asset_id)
                    if action.action in ("favorite", "unfavorite"):
                        asset.favorite = action.action == "favorite"
                    else:
                        if not action.tags:
                            raise ValidationFailed("tags", f"{action.action} needs at least one tag")
                        self.add_tags(session, asset=asset, tags=action.tags, remove=action.action == "untag")
                    session.commit()
                results.append(BulkResult(id=asset_id, ok=True, status=200))
            except ImageStudioError as exc:
                session.rollback()
                results.append(BulkResult(id=asset_id, ok=False, status=exc.status, detail=exc.detail))
        ok = sum(r.ok for r in results)
        return BulkResponse(results=results, succeeded=ok, failed=len(results) - ok)


asset_service = AssetService()
