"""Uploads: store an image once, resolve its id for many jobs, expire it, sweep it away.

Two ways in: a multipart ``POST /uploads`` (the gateway checks the header, the upload is
``ready`` at once), or a presigned PUT (the upload is ``pending`` until a job first uses it; then
its object is read, at most its declared size, and checked, and the very bytes checked are copied
to a key no link writes: the upload is ``ready`` and immutable). Jobs reference the upload's
object key directly, so the sweepers spare objects that a queued or running job still reads.
No object outlives its row: ``DELETE`` removes it, and the sweep deletes objects under a tenant's
uploads prefix that no row names (a PUT after the check or after the delete).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.errors import ImageTooLarge, InvalidImage, NotFound, StorageError, ValidationFailed
from imagestudio.imaging import ImageInfo, inspect_image
from imagestudio.imaging.formats import UPLOAD_MEDIA_TYPES, by_media_type, media_type
from imagestudio.jobs.service import job_service
from imagestudio.paging import read_page
from imagestudio.quota.service import storage_quota_service
from imagestudio.storage import clean_filename, get_store, incoming_upload_key, upload_key, uploads_prefix
from imagestudio.telemetry.logging import get_logger
from imagestudio.tenants.service import tenant_service
from imagestudio.uploads.models import Upload, UploadState, new_upload_id
from imagestudio.uploads.repository import upload_repository
from imagestudio.uploads.schemas import (
    UploadPage,
    UploadPresigned,
    UploadRead,
)

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
    #: The object's size as checked (provider request limits are counted from it, not by reading it).
    size_bytes: int
    #: The client's file name, cleaned (None when it sent none).
    filename: str | None = None


@dataclass(frozen=True)
class _Pending:
    """What the check of a pending upload needs from its row, read before its transaction ends."""

    id: str
    tenant_id: str
    key: str
    ext: str
    content_type: str
    declared_bytes: int
    filename: str | None = None


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


#: What an upload's row keeps of its checked header: ``ImageInfo`` fields, named as the columns.
IMAGE_COLUMNS = ("format", "width", "height", "has_alpha", "orientation", "frames")


def image_columns(info: ImageInfo) -> dict[str, Any]:
    """The row's image columns from a checked header (written once, when the upload becomes ready)."""
    return {name: getattr(info, name) for name in IMAGE_COLUMNS}


def _new_row(
    upload_id: str,
    tenant_id: str,
    state: UploadState,
    key: str,
    content_type: str,
    ext: str,
    size_bytes: int,
    filename: str | None,
    info: ImageInfo | None = None,
) -> Upload:
    """A new upload row, alive for ``upload_ttl_seconds`` from now; ``info`` once its image is checked.

    ``filename`` is the client's name for the file, kept cleaned (``storage.clean_filename``).
    """
    now = utcnow()
    return Upload(
        id=upload_id,
        tenant_id=tenant_id,
        state=state.value,
        key=key,
        content_type=content_type,
        ext=ext,
        bytes=size_bytes,
        filename=clean_filename(filename),
        **(image_columns(info) if info is not None else {}),
        created_at=now,
        expires_at=now + timedelta(seconds=get_settings().upload_ttl_seconds),
    )


def _checked_key(upload: _Pending) -> str:
    """Where a presigned upload's checked bytes go: a key no link writes, new for each check."""
    return upload_key(upload.tenant_id, f"{upload.id}-{secrets.token_hex(4)}", upload.ext)


def _resolved(upload: Upload) -> ResolvedUpload:
    """A ready upload's row as a job sees it."""
    assert upload.format is not None and upload.width is not None and upload.height is not None
    return ResolvedUpload(
        key=upload.key,
        info=ImageInfo(
            format=upload.format,
            width=upload.width,
            height=upload.height,
            has_alpha=bool(upload.has_alpha),
            orientation=upload.orientation or 1,
            frames=upload.frames or 1,
        ),
        ext=upload.ext,
        content_type=upload.content_type,
        size_bytes=upload.bytes,
        filename=upload.filename,
    )


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
        filename: str | None = None,
    ) -> Upload:
        """Store bytes whose header the gateway already checked; the upload is ready at once.

        ``filename`` is the client's name for the file, kept cleaned (``storage.clean_filename``).
        """
        storage_quota_service.check_room(session, tenant_id=tenant_id, incoming=len(data), what="This upload")
        upload_id = new_upload_id()
        key = upload_key(tenant_id, upload_id, ext)
        store = get_store()
        store.put(key, data, content_type=content_type)
        upload = _new_row(
            upload_id, tenant_id, UploadState.ready, key, content_type, ext, len(data), filename, info
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
        self,
        session: Session,
        *,
        tenant_id: str,
        content_type: str,
        size_bytes: int,
        filename: str | None = None,
    ) -> UploadPresigned:
        """A pending upload and a PUT URL for it; the file is checked when a job first uses it."""
        settings = get_settings()
        declared = content_type.split(";", 1)[0].strip().lower()
        declared_format = by_media_type(declared)
        if declared_format is None:
            raise ValidationFailed("content_type", f"use an image type: {', '.join(UPLOAD_MEDIA_TYPES)}")
        ext = declared_format.extension
        if size_bytes > settings.max_upload_bytes:
            raise ImageTooLarge(
                "bytes", f"{size_bytes} bytes is over the {settings.max_upload_bytes} byte limit"
            )
        upload_id = new_upload_id()
        # The link writes a key of its own: the checked object is copied elsewhere, out of its reach.
        key = incoming_upload_key(tenant_id, upload_id, ext)
        upload = _new_row(upload_id, tenant_id, UploadState.pending, key, declared, ext, size_bytes, filename)
        # The PUT link dies with the upload at the latest, sooner when download links are shorter.
        link = get_store().presigned_put_url(
            key, ttl_seconds=min(settings.url_ttl_seconds, settings.upload_ttl_seconds)
        )
        session.add(upload)
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
            filename=upload.filename,
            expires_at=upload.expires_at,
        )

    # --- reading and deleting -----------------------------------------------------------------
    def get(self, session: Session, *, tenant_id: str, upload_id: str) -> Upload:
        upload = upload_repository.get_for_tenant(session, tenant_id=tenant_id, upload_id=upload_id)
        # Another tenant's upload, and an expired one, are indistinguishable from a missing one.
        if upload is None or upload.expires_at <= utcnow():
            raise NotFound(f"No upload {upload_id}")
        return upload

    def to_read(self, upload: Upload) -> UploadRead:
        return UploadRead.model_validate(upload, from_attributes=True)

    def page(self, session: Session, *, tenant_id: str, limit: int, cursor: str | None) -> UploadPage:
        """The tenant's uploads still usable (not expired), newest first, ``limit`` a page."""
        now = utcnow()
        page, next_cursor = read_page(
            lambda rows, before: upload_repository.page(
                session, tenant_id=tenant_id, now=now, limit=rows, before=before
            ),
            limit=limit,
            cursor=cursor,
        )
        return UploadPage(items=[self.to_read(u) for u in page], next_cursor=next_cursor)

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
        object is not an image. A pending upload is checked here, once: the caller's (read-only)
        transaction is ended first, so no database lock is held while storage is read, and the
        upload is marked ready in a short transaction of its own. Ready uploads are answered from
        a short in-process cache.
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
        expires_at = upload.expires_at
        if upload.state == UploadState.pending.value:
            pending = _Pending(
                id=upload.id,
                tenant_id=upload.tenant_id,
                key=upload.key,
                ext=upload.ext,
                content_type=upload.content_type,
                declared_bytes=upload.bytes,
                filename=upload.filename,
            )
            # Drafting only reads; on SQLite its transaction holds the write lock, which must not
            # be held while an object of up to the byte limit is read and inspected.
            session.rollback()
            resolved = self._check_pending(pending, field=field)
        else:
            resolved = _resolved(upload)
        self._ready.put(tenant_id, upload_id, resolved, expires_at=expires_at)
        return resolved

    def _check_pending(self, upload: _Pending, *, field: str) -> ResolvedUpload:
        """Check a presigned upload's object like a multipart upload's, then make it immutable.

        Reads at most the declared size (the PUT link binds neither size nor type on S3: this
        check does), refuses a format other than the declared type, copies the bytes checked to a
        key no link writes, records them, and deletes the object the link wrote.
        """
        settings = get_settings()
        store = get_store()
        limit = min(upload.declared_bytes, settings.max_upload_bytes)
        try:
            data = store.get(upload.key, limit=limit)
        except StorageError as exc:
            data = None
            if store.exists(upload.key):
                raise  # the store failed, not the client
            log.debug("upload.check_missing", upload_id=upload.id, error=repr(exc))
        if data is None:
            # Never PUT, or another request checked it meanwhile (and removed what the link wrote).
            checked = self._ready_now(upload)
            if checked is not None:
                return checked
            raise ValidationFailed(field, f"upload {upload.id} has no file: PUT it to its put_url first")
        if len(data) > limit:
            raise ImageTooLarge(
                field,
                f"the file PUT is over the {limit:,} bytes declared when upload {upload.id} was presigned",
            )
        info = inspect_image(
            data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field=field
        )
        declared = upload.content_type
        declared_format = by_media_type(declared)
        if declared_format is None or (declared_format.decoded_as or declared_format.name) != info.format:
            raise InvalidImage(field, f"the file PUT is {info.format.upper()}, but {declared} was declared")
        content_type = media_type(info.format)
        key = _checked_key(upload)
        store.put(key, data, content_type=content_type)
        with session_scope() as session:  # its own short transaction: never rolled back with a draft
            marked = upload_repository.mark_ready(
                session,
                upload_id=upload.id,
                key=key,
                content_type=content_type,
                size_bytes=len(data),
                image=image_columns(info),
            )
            if marked:  # the count moves from the declared size to the stored one, in the same transaction
                storage_quota_service.add(
                    session, tenant_id=upload.tenant_id, size_bytes=len(data) - upload.declared_bytes
                )
        if not marked:  # checked by another request first, or deleted: this copy is nobody's
            store.delete(key)
            checked = self._ready_now(upload)
            if checked is None:
                raise ValidationFailed(
                    field, f"no upload {upload.id!r}: unknown, deleted or another tenant's"
                )
            return checked
        store.delete(upload.key)  # what the link wrote; should this fail, the stray sweep takes it
        log.info("upload.checked", upload_id=upload.id, format=info.format, size_bytes=len(data))
        return ResolvedUpload(
            key=key,
            info=info,
            ext=upload.ext,
            content_type=content_type,
            size_bytes=len(data),
            filename=upload.filename,
        )

    def _ready_now(self, upload: _Pending) -> ResolvedUpload | None:
        """The upload as another request's check left it, or None when it is still pending or gone."""
        with session_scope() as session:
            row = upload_repository.get_for_tenant(session, tenant_id=upload.tenant_id, upload_id=upload.id)
            if row is None or row.state != UploadState.ready.value:
                return None
            return _resolved(row)

    def put_limit(self, session: Session, *, key: str) -> int | None:
        """The bytes a presigned PUT may write to ``key`` (its upload's declared size), or None when
        the link no longer accepts a file: its upload was checked, deleted or expired.

        The local store's PUT route asks this; an S3 link cannot be refused, but what it writes
        after the check is read by nothing and swept as a stray.
        """
        parts = key.split("/")
        if len(parts) != 5 or parts[0] != "tenants" or parts[2:4] != ["uploads", "incoming"]:
            return None
        upload = upload_repository.get_for_tenant(
            session, tenant_id=parts[1], upload_id=parts[4].split(".", 1)[0]
        )
        if (
            upload is None
            or upload.key != key
            or upload.state != UploadState.pending.value
            or upload.expires_at <= utcnow()
        ):
            return None
        return upload.bytes

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
        strays = self.sweep_strays(session, now=now)
        if deleted or spared or strays:
            log.info("uploads.swept", deleted=deleted, spared=spared, strays=strays)
        return deleted

    def sweep_strays(self, session: Session, *, now: datetime | None = None) -> int:
        """Delete objects under each tenant's uploads prefix that no upload row names.

        They come from a presigned PUT after its upload was checked or deleted (an S3 link
        cannot be refused). Objects younger than the grace period are spared (an upload being
        created or checked writes its object before its row), as are objects a job still reads.
        Returns how many objects were deleted.
        """
        cutoff = (now or utcnow()) - timedelta(seconds=SWEEP_GRACE_SECONDS)
        store = get_store()
        deleted = 0
        for tenant in tenant_service.list_tenants(session):
            prefix = uploads_prefix(tenant.id)
            objects = [o for o in store.list(prefix) if o.modified_at <= cutoff]
            if not objects:
                continue
            named = upload_repository.keys_for_tenant(session, tenant_id=tenant.id)
            in_use = job_service.input_keys_in_use(session, tenant_id=tenant.id)
            for obj in objects:
                if obj.key in named or obj.key in in_use:
                    continue
                try:
                    store.delete(obj.key)
                except StorageError as exc:  # the next sweep retries
                    log.warning("upload.stray_sweep_failed", key=obj.key, error=repr(exc))
                    continue
                deleted += 1
            session.commit()  # end the read before the next tenant's listing
        return deleted


upload_service = UploadService()
