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
from imagestudio.db import new_read_session
from imagestudio.errors import ImageTooLarge, NotFound
from imagestudio.storage import get_store
from imagestudio.storage.base import content_disposition
from imagestudio.storage.local import LocalStore
from imagestudio.uploads.service import upload_service

router = APIRouter(route_class=SignedUploadRoute, tags=["files"])


def _local_store() -> LocalStore:
    store = get_store()
    if not isinstance(store, LocalStore):
        raise NotFound("No such file")
    return store


def _put_limit(key: str) -> int | None:
    with new_read_session() as session:  # a lookup, ended before the body is read
        return upload_service.put_limit(session, key=key)


@router.get("/api/image-studio/files/{key:path}", include_in_schema=False)
def download(key: str, expires: int, signature: str, filename: str | None = None) -> FileResponse:
    """Serve an object when the link's signature and expiry check out; the link is the credential.

    A link signed with a ``filename`` (an output named after its source) is downloaded under it.
    """
    path = _local_store().verify(key, expires=expires, signature=signature, filename=filename)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(filename or path.name)},
    )


@router.put("/api/image-studio/files/{key:path}", include_in_schema=False)
async def upload(key: str, expires: int, signature: str, request: Request) -> Response:
    """Write the body to ``key`` when the PUT link checks out (the local twin of an S3 presigned PUT).

    Only while its upload is pending: once a job checked it (or it was deleted) the link is refused.
    """
    store = _local_store()
    store.verify_put(key, expires=expires, signature=signature)
    declared = await run_in_threadpool(_put_limit, key)
    if declared is None:
        raise NotFound("This upload link no longer accepts a file: its upload was checked or deleted")
    limit = min(declared, get_settings().max_upload_bytes)  # the link binds the declared size
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:  # stop reading: never hold more than the limit in memory
            raise ImageTooLarge("body", f"the upload is over the {limit} bytes declared for it")
    content_type = request.headers.get("content-type", "application/octet-stream")
    await run_in_threadpool(store.put, key, bytes(body), content_type=content_type)
    return Response(status_code=200)
