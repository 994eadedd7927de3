"""PLACEHOLDER of the uploads service (the real one lands with ``POST /uploads``): resolve an upload id.

Only the interface the studio routes code against; until the real service replaces this file
every upload id is unknown, and tests fake ``upload_service.resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import ImageInfo


@dataclass(frozen=True)
class ResolvedUpload:
    """An upload a request named, checked: its object is in storage and is an image."""

    key: str
    info: ImageInfo
    ext: str
    content_type: str


class UploadService:
    def resolve(self, session: Session, *, tenant_id: str, upload_id: str, field: str) -> ResolvedUpload:
        """The upload ``upload_id`` of the tenant; a 422 naming ``field`` when it cannot be used."""
        raise ValidationFailed(field, f"unknown upload {upload_id!r}")


upload_service = UploadService()
