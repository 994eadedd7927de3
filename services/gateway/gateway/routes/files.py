"""Signed download links for the local-folder store (S3 links go straight to the bucket)."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from imagestudio.errors import NotFound
from imagestudio.storage import get_store
from imagestudio.storage.local import LocalStore

router = APIRouter(tags=["files"])


@router.get("/api/image-studio/files/{key:path}", include_in_schema=False)
def download(key: str, expires: int, signature: str) -> FileResponse:
    """Serve an object when the link's signature and expiry check out; the link is the credential."""
    store = get_store()
    if not isinstance(store, LocalStore):
        raise NotFound("No such file")
    path = store.verify(key, expires=expires, signature=signature)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=path.name)
