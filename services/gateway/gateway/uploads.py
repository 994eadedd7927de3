"""Reading image uploads and validating them from their header before anything is stored or enqueued.

No pixel is decoded here: a file truncated or corrupt past its header is accepted (202) and its
job fails in the worker with ``invalid-image`` (credits released, ``job.failed`` sent).
"""

from __future__ import annotations

from fastapi import UploadFile

from imagestudio.config import get_settings
from imagestudio.errors import ImageTooLarge, InvalidImage
from imagestudio.imaging import CONTENT_TYPES, ImageInfo, inspect_image
from imagestudio.jobs.service import Upload

_EXT = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "tiff": "tif",
    "bmp": "bmp",
    "heif": "heic",
}


def read_image_upload(upload: UploadFile, *, field: str) -> Upload:
    """Read at most the byte limit (plus one byte, to detect overflow) and check its header."""
    return read_image_upload_info(upload, field=field)[0]


def read_image_upload_info(upload: UploadFile, *, field: str) -> tuple[Upload, ImageInfo]:
    """``read_image_upload`` plus what the header said (size, alpha) for per-studio limits."""
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
        ext=_EXT.get(info.format, info.format),
        content_type=CONTENT_TYPES.get(info.format, f"image/{info.format}"),
    )
    return stored, info
