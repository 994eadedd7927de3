"""Uploads: store an image once, resolve its id for many jobs, expire it, sweep it away.

Two ways in: a multipart ``POST /uploads`` (the gateway checks the header, the upload is
``ready`` at once), or a presigned PUT (the upload is ``pending`` until a job first uses it; then
its object is read and checked, and it becomes ``ready``). Jobs reference the upload's object key
directly, so the sweeper spares objects that a queued or running job still reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import utcnow
from imagestudio.errors import ImageTooLarge, NotFound, StorageError, ValidationFailed
from imagestudio.imaging import CONTENT_TYPES, ImageInfo, inspect_image
from imagestudio.jobs.service import job_service
from imagestudio.quota.service import storage_quota_service
from imagestudio.storage import get_store, upload_key
from imagestudio.telemetry.logging import get_logger
from imagestudio.uploads.models import Upload, UploadState, new_upload_id
from imagestudio.uploads.repository import upload_repository
from imagestudio.uploads.schemas import PRESIGN_CONTENT_TYPES, UploadPresigned, UploadRead

log = get_logger(__name__)

#: Seconds a ready upload stays in a process's resolve cache. A deletion in this process drops
#: it at once; one in another replica is seen within this time (its jobs then fail in the worker).
RESOLVE_CACHE_SECONDS = 5.0
#: Ready uploads kept in the resolve cache (oldest dropped first).
RESOLVE_CACHE_SIZE = 4096
#: Expired rows read per sweep query.
SWEEP_BATCH = 500
#: An upload is swept this long after it expired: a job that resolved it just before has committed
#: its row (and so its reference to the object) by then.
SWEEP_GRACE_SECONDS = 300


@dataclass(frozen=True)
class ResolvedUpload:
    """A usable upload: its object's key and what its header said."""

    key: str
    info: ImageInfo
    ext: str
    content_type: str


class _ReadyCache:
    """(tenant, upload id) → ResolvedUpload for ready uploads, kept a few seconds, bounded."""

    def __init__(self, *, ttl_seconds: float, size: int) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[ResolvedUpload, datetime, datetime]] = OrderedDict()

    def get(self, tenant_id: str, upload_id: str, *, now: datetime) -> ResolvedUpload | None:
        with self._lock:
            entry = self._entries.get((tenant_id, upload_id))
            if entry is None:
                return None
            resolved, expires_at, cached_until = entry
            if now >= cached_until or now >= expires_at:
                del self._entries[(tenant_id, upload_id)]
                return None
            return resolved

    def put(self, tenant_id: str, upload_id: str, resolved: ResolvedUpload, *, expires_at: datetime) -> None:
        with self._lock:
            self._entries[(tenant_id, upload_id)] = (resolved, expires_at, utcnow() + self._ttl)
            self._entries.move_to_end((tenant_id, upload_id))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, tenant_id: str, upload_id: str) -> None:
        with self._lock:
            self._entries.pop((tenant_id, upload_id), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _content_type(format: str) -> str:
    return CONTENT_TYPES.get(format, f"image/{format}")


class UploadService:
    def __init__(self) -> None:
        self._ready = _ReadyCache(ttl_seconds=RESOLVE_CACHE_SECONDS, size=RESOLVE_CACHE_SIZE)

    # --- creating -----------------------------------------------------------------------------
    def create(
        self,
        session: Session,
        *,
        tenant_id: str,
        data: bytes,
        info: ImageInfo,
        ext: str,
        content_type: str,
    ) -> Upload:
        """Store bytes whose header the gateway already checked; the upload is ready at once."""
        storage_quota_service.check_room(session, tenant_id=tenant_id, incoming=len(data), what="This upload")
        upload_id = new_upload_id()
        key = upload_key(tenant_id, upload_id, ext)
        store = get_store()
        store.put(key, data, content_type=content_type)
        now = utcnow()
        upload = Upload(
            id=upload_id,
            tenant_id=tenant_id,
            state=UploadState.ready.value,
            key=key,
            content_type=content_type,
            ext=ext,
            format=info.format,
            width=info.width,
            height=info.height,
            has_alpha=info.has_alpha,
            orientation=info.orientation,
            bytes=len(data),
            created_at=now,
            expires_at=now + timedelta(seconds=get_settings().upload_ttl_seconds),
        )
        try:
            session.add(upload)
            storage_quota_service.charge(
                session, tenant_id=tenant_id, size_bytes=len(data), what="This upload"
            )
            session.commit()
        except BaseException:
            session.rollback()
            store.delete(key)  # no row: the object would be an orphan no sweeper finds
            raise
        log.info("upload.created", upload_id=upload_id, tenant_id=tenant_id, size_bytes=len(data))
        return upload

    def presign(
        self, session: Session, *, tenant_id: str, content_type: str, size_bytes: int
    ) -> UploadPresigned:
        """A pending upload and a PUT URL for it; the file is checked when a job first uses it."""
        settings = get_settings()
        declared = content_type.split(";", 1)[0].strip().lower()
        ext = PRESIGN_CONTENT_TYPES.get(declared)
        if ext is None:
            raise ValidationFailed("content_type", f"use an image type: {', '.join(PRESIGN_CONTENT_TYPES)}")
        if size_bytes > settings.max_upload_bytes:
            raise ImageTooLarge(
                "bytes", f"{size_bytes} bytes is over the {settings.max_upload_bytes} byte limit"
            )
        upload_id = new_upload_id()
        key = upload_key(tenant_id, upload_id, ext)
        now = utcnow()
        expires_at = now + timedelta(seconds=settings.upload_ttl_seconds)
        # The PUT link dies with the upload at the latest, sooner when download links are shorter.
        link = get_store().presigned_put_url(
            key, ttl_seconds=min(settings.url_ttl_seconds, settings.upload_ttl_seconds)
        )
        session.add(
            Upload(
                id=upload_id,
                tenant_id=tenant_id,
                state=UploadState.pending.value,
                key=key,
                content_type=declared,
                ext=ext,
                bytes=size_bytes,
                created_at=now,
                expires_at=expires_at,
            )
        )
        # The declared size is counted from now (the PUT needs the room); corrected once checked.
        storage_quota_service.charge(session, tenant_id=tenant_id, size_bytes=size_bytes, what="This upload")
        session.commit()
        log.info("upload.presigned", upload_id=upload_id, tenant_id=tenant_id, size_bytes=size_bytes)
        return UploadPresigned(
            id=upload_id,
            put_url=link.url,
            put_expires_at=link.expires_at,
            content_type=declared,
            bytes=size_bytes,
            expires_at=expires_at,
        )

    # --- reading and deleting -----------------------------------------------------------------
    def get(self, session: Session, *, tenant_id: str, upload_id: str) -> Upload:
        upload = upload_repository.get_for_tenant(session, tenant_id=tenant_id, upload_id=upload_id)
        # Another tenant's upload, and an expired one, are indistinguishable from a missing one.
        if upload is None or upload.expires_at <= utcnow():
            raise NotFound(f"No upload {upload_id}")
        return upload

    def to_read(self, upload: Upload) -> UploadRead:
        return UploadRead(
            id=upload.id,
            state=UploadState(upload.state).value,
            width=upload.width,
            height=upload.height,
            format=upload.format,
            bytes=upload.bytes,
            content_type=upload.content_type,
            created_at=upload.created_at,
            expires_at=upload.expires_at,
        )

    def delete(self, session: Session, *, tenant_id: str, upload_id: str) -> None:
        """Stop the id resolving now; delete the object unless a queued or running job still reads it."""
        upload = self.get(session, tenant_id=tenant_id, upload_id=upload_id)
        self._ready.drop(tenant_id, upload_id)
        if upload.key in job_service.input_keys_in_use(session, tenant_id=tenant_id):
            # Those jobs would fail without it: expire the row and let the sweeper take the object
            # once they have finished.
            upload_repository.expire(
                session, upload_id=upload.id, now=utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS)
            )
        else:
            get_store().delete(upload.key)
            storage_quota_service.release_rows(
                session, upload_repository.delete(session, upload_ids=[upload.id])
            )
        session.commit()
        log.info("upload.deleted", upload_id=upload_id, tenant_id=tenant_id)

    # --- used by job submissions --------------------------------------------------------------
    def resolve(self, session: Session, *, tenant_id: str, upload_id: str, field: str) -> ResolvedUpload:
        """The upload behind ``upload_id`` for a job's ``field``, or a 422 naming the field.

        Refused when the id is unknown for this tenant, expired, its object is missing, or the
        object is not an image. A pending upload is checked here, once, and marked ready in the
        caller's transaction. Ready uploads are answered from a short in-process cache.
        """
        now = utcnow()
        cached = self._ready.get(tenant_id, upload_id, now=now)
        if cached is not None:
            return cached
        upload = upload_repository.get_for_tenant(session, tenant_id=tenant_id, upload_id=upload_id)
        if upload is None:
            raise ValidationFailed(field, f"no upload {upload_id!r}: unknown, deleted or another tenant's")
        if upload.expires_at <= now:
            raise ValidationFailed(field, f"upload {upload_id} expired at {upload.expires_at.isoformat()}")
        if upload.state == UploadState.pending.value:
            resolved = self._check_pending(session, upload=upload, field=field)
        else:
            assert upload.format is not None and upload.width is not None and upload.height is not None
            resolved = ResolvedUpload(
                key=upload.key,
                info=ImageInfo(
                    format=upload.format,
                    width=upload.width,
                    height=upload.height,
                    has_alpha=bool(upload.has_alpha),
                    orientation=upload.orientation or 1,
                ),
                ext=upload.ext,
                content_type=upload.content_type,
            )
        self._ready.put(tenant_id, upload_id, resolved, expires_at=upload.expires_at)
        return resolved

    def _check_pending(self, session: Session, *, upload: Upload, field: str) -> ResolvedUpload:
        """Read a presigned upload's object and check it like a multipart upload's."""
        settings = get_settings()
        store = get_store()
        size = store.size(upload.key)
        if size is None:
            raise ValidationFailed(field, f"upload {upload.id} has no file: PUT it to its put_url first")
        if size > settings.max_upload_bytes:  # a presigned PUT does not bind the declared size
            raise ImageTooLarge(field, f"the upload is over the {settings.max_upload_bytes} byte limit")
        try:
            data = store.get(upload.key)
        except StorageError as exc:  # deleted between the two calls
            raise ValidationFailed(
                field, f"upload {upload.id} has no file: PUT it to its put_url first"
            ) from exc
        info = inspect_image(
            data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field=field
        )
        content_type = _content_type(info.format)
        marked = upload_repository.mark_ready(
            session,
            upload_id=upload.id,
            format=info.format,
            content_type=content_type,
            width=info.width,
            height=info.height,
            has_alpha=info.has_alpha,
            orientation=info.orientation,
            size_bytes=len(data),
        )
        if marked:  # the count moves from the declared size to the stored one
            storage_quota_service.add(
                session, tenant_id=upload.tenant_id, size_bytes=len(data) - upload.bytes
            )
        log.info("upload.checked", upload_id=upload.id, format=info.format, size_bytes=len(data))
        return ResolvedUpload(key=upload.key, info=info, ext=upload.ext, content_type=content_type)

    # --- expiry -------------------------------------------------------------------------------
    def sweep(self, session: Session, *, now: datetime | None = None) -> int:
        """Delete uploads expired (past a grace period) and their objects; spare objects in use.

        Safe with several replicas at once: deleting a missing object or row is harmless.
        Returns how many uploads were deleted.
        """
        cutoff = (now or utcnow()) - timedelta(seconds=SWEEP_GRACE_SECONDS)
        in_use: set[str] | None = None  # read once, and only when something expired
        store = get_store()
        deleted = spared = 0
        after: tuple[datetime, str] | None = None
        while True:
            batch = upload_repository.expired(session, now=cutoff, limit=SWEEP_BATCH, after=after)
            if not batch:
                break
            if in_use is None:
                in_use = job_service.input_keys_in_use(session)
            gone: list[str] = []
            for upload in batch:
                self._ready.drop(upload.tenant_id, upload.id)
                if upload.key in in_use:
                    spared += 1
                    continue
                try:
                    store.delete(upload.key)
                except StorageError as exc:  # store away: keep the row, the next sweep retries
                    log.warning("upload.sweep_failed", upload_id=upload.id, error=repr(exc))
                    continue
                gone.append(upload.id)
            storage_quota_service.release_rows(session, upload_repository.delete(session, upload_ids=gone))
            session.commit()
            deleted += len(gone)
            if len(batch) < SWEEP_BATCH:
                break
            after = (batch[-1].expires_at, batch[-1].id)
        if deleted or spared:
            log.info("uploads.swept", deleted=deleted, spared=spared)
        return deleted


upload_service = UploadService()
