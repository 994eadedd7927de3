"""Reading image uploads and validating them from their header before anything is stored or enqueued.

No pixel is decoded here: a file truncated or corrupt past its header is accepted (202) and its
job fails in the worker with ``invalid-image`` (credits released, ``job.failed`` sent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.errors import ImageTooLarge, InvalidImage, NotFound, RemoteImageRefused, ValidationFailed
from imagestudio.imaging import ImageInfo, extension, inspect_image, media_type
from imagestudio.jobs.service import Upload
from imagestudio.remote_images import url_refusal
from imagestudio.storage.factory import get_store
from imagestudio.studios.common.request import StoredImage, StudioRequest
from imagestudio.uploads.service import upload_service


def read_image_upload_info(upload: UploadFile, *, field: str) -> tuple[Upload, ImageInfo]:
    """Read at most the byte limit (plus one byte, to detect overflow), check it is a sane image, describe it."""
    settings = get_settings()
    data = upload.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise ImageTooLarge(field, f"the upload is over the {settings.max_upload_bytes} byte limit")
    if not data:
        raise InvalidImage(field, "the upload is empty")
    info = inspect_image(
        data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field=field
    )
    stored = Upload(
        field=field,
        data=data,
        ext=extension(info.format),
        content_type=media_type(info.format),
    )
    return stored, info


def read_asset_upload_info(session: Session, *, tenant_id: str, asset_id: str) -> tuple[Upload, ImageInfo]:
    """One of the tenant's image outputs read back from storage and checked like a file sent (field ``asset_id``)."""
    settings = get_settings()
    try:
        asset = asset_service.get(session, tenant_id=tenant_id, asset_id=asset_id)
    except NotFound:
        raise ValidationFailed(
            "asset_id", f"no asset {asset_id!r}: unknown, deleted or another tenant's"
        ) from None
    if not asset.content_type.startswith("image/"):
        raise ValidationFailed("asset_id", f"asset {asset_id} is a {asset.format} file, not an image")
    data = get_store().get(asset.key, limit=settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise ImageTooLarge(
            "asset_id", f"the asset is over the {settings.max_upload_bytes} byte upload limit"
        )
    info = inspect_image(
        data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field="asset_id"
    )
    return Upload(
        field="asset_id", data=data, ext=extension(info.format), content_type=media_type(info.format)
    ), info


def studio_images(
    session: Session, *, tenant_id: str, request: StudioRequest, files: Mapping[str, UploadFile]
) -> dict[str, tuple[Upload | StoredImage, ImageInfo]]:
    """Every image a studio request gives: files read and checked, upload ids resolved (a 422 naming the field)."""
    ids, urls = request.upload_ids(), request.image_urls()
    for name in request.required_images:
        if name not in files and name not in ids and name not in urls:
            raise ValidationFailed(name, "the image is required: a file, an upload id or an https:// URL")
    images: dict[str, tuple[Upload | StoredImage, ImageInfo]] = {}
    for name in request.image_fields:
        if name in files:
            images[name] = read_image_upload_info(files[name], field=name)
        elif name in ids:
            upload = upload_service.resolve(session, tenant_id=tenant_id, upload_id=ids[name], field=name)
            images[name] = (
                StoredImage(field=name, key=upload.key, size_bytes=upload.size_bytes),
                upload.info,
            )
    return images


def image_urls(request: StudioRequest) -> dict[str, str]:
    """The images a request gives by URL, their form checked (a 422 naming the field); never fetched here."""
    urls = request.image_urls()
    allow_loopback = get_settings().remote_image_allow_loopback
    for name, url in urls.items():
        reason = url_refusal(url, allow_loopback=allow_loopback)
        if reason:
            raise RemoteImageRefused(name, f"the URL {reason}")
    return urls


def job_inputs(images: Iterable[Upload | StoredImage]) -> tuple[list[Upload], dict[str, str]]:
    """What a job draft takes: bytes still to store, and keys of objects already stored, by field."""
    uploads: list[Upload] = []
    stored: dict[str, str] = {}
    for image in images:
        if isinstance(image, StoredImage):
            stored[image.field] = image.key
        else:
            uploads.append(image)
    return uploads, stored
