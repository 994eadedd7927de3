"""Upload ids for tests of the studio routes' JSON bodies, without a tenant's ``POST /uploads``.

It stores the object and answers ``resolve`` itself, so those tests judge the routes alone; the
real route and service are tested in ``test_uploads_api.py``, and end to end with JSON bodies and
batches in ``test_upload_once_submit_many.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging import inspect_image, media_type
from imagestudio.storage import get_store
from imagestudio.uploads.service import ResolvedUpload, upload_service


@dataclass
class FakeUploads:
    known: dict[str, ResolvedUpload] = field(default_factory=dict)

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> FakeUploads:
        fake = cls()
        monkeypatch.setattr(upload_service, "resolve", fake.resolve)
        return fake

    def add(self, data: bytes) -> str:
        """Store ``data`` as an upload; its id."""
        settings = get_settings()
        info = inspect_image(data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes)
        upload_id = f"upl_test{len(self.known)}"
        key = f"uploads/test/{upload_id}.{info.format}"
        get_store().put(key, data, content_type=media_type(info.format))
        self.known[upload_id] = ResolvedUpload(
            key=key,
            info=info,
            ext=info.format,
            content_type=media_type(info.format),
            size_bytes=len(data),
        )
        return upload_id

    def resolve(self, session: Any, *, tenant_id: str, upload_id: str, field: str) -> ResolvedUpload:
        if upload_id not in self.known:
            raise ValidationFailed(field, f"unknown upload {upload_id!r}")
        return self.known[upload_id]
