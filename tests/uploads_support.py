"""Helpers the upload tests share (unit and integration): a tenant's headers and id, resolving an upload.

One place for what ``test_uploads_api.py``, ``test_upload_immutability.py`` and
``test_uploads_s3.py`` each wrote out again.
"""

from __future__ import annotations

from imagestudio.db import session_scope
from imagestudio.tenants.service import tenant_service
from imagestudio.uploads.service import ResolvedUpload, upload_service

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tenant_of(key: str) -> str:
    with session_scope() as session:
        return tenant_service.authenticate(session, key=key).tenant_id


def resolve(tenant_id: str, upload_id: str, field: str = "image") -> ResolvedUpload:
    with session_scope() as session:
        return upload_service.resolve(session, tenant_id=tenant_id, upload_id=upload_id, field=field)
