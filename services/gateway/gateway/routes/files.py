"""Signed links for the local-folder store: downloads, and uploads to presigned PUT URLs.

S3 links go straight to the bucket; with local storage the gateway is the bucket.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from gateway.guard import SignedUploadRoute
from imagestudio.config import get_settings
from imagestudio.errors import ImageTooLarge, NotFound
from imagestudio.storage import get_store
from imagestudio.storage.local import LocalStore

router = APIRouter(route_class=SignedUploadRoute, tags=["files"])


def _local_store() -> LocalStore:
    store = get_store()
    if not isinstance(store, LocalStore):
        raise NotFound("No such file")
    return store


@router.get("/api/image-studio/files/{key:path}", include_in_schema=False)
def download(key: str, expires: int, signature: str) -> FileResponse:
    """Serve an object when the link's signature and expiry check out; the link is the credential."""
    path = _local_store().verify(key, expires=expires, signature=signature)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=path.name)


@router.put("/api/image-studio/files/{key:path}", include_in_schema=False)
async def upload(key: str, expires: int, signature: str, request: Request) -> Response:
    """Write the body to ``key`` when the PUT link checks out (the local twin of an S3 presigned PUT)."""
    store = _local_store()
    store.verify_put(key, expires=expires, signature=signature)
    limit = get_settings().max_upload_bytes
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:  # stop reading: never hold more than the limit in memory
            raise ImageTooLarge("body", f"the upload is over the {limit} byte limit")
    content_type = request.headers.get("content-type", "application/octet-stream")
    await run_in_threadpool(store.put, key, bytes(body), content_type=content_type)
    return Response(status_code=200)
