"""Uploads: store an image once (multipart, or a presigned PUT) and reference its id from many jobs."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi import UploadFile as FastAPIUploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gateway.admission import Admission, AdmissionDep
from gateway.deps import PrincipalDep, ReadSessionDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_JSON, PROBLEM_RESPONSES
from gateway.studio_requests import read_form
from gateway.uploads import read_asset_upload_info, read_image_upload_info
from imagestudio.errors import InvalidRequest, ValidationFailed
from imagestudio.uploads.schemas import (
    UploadFromAsset,
    UploadPage,
    UploadPresign,
    UploadPresigned,
    UploadRead,
)
from imagestudio.uploads.service import upload_service

router = APIRouter(route_class=GuardedRoute, prefix="/uploads", tags=["uploads"], responses=PROBLEM_RESPONSES)

#: Both request bodies ``POST /uploads`` takes, for the OpenAPI document (the route parses them itself).
_CREATE_BODIES: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {
                "schema": {"oneOf": [UploadPresign.model_json_schema(), UploadFromAsset.model_json_schema()]},
                "examples": {
                    "presign": {"value": {"content_type": "image/png", "bytes": 482113}},
                    "from_asset": {"value": {"asset_id": "3f0c9a6b-2e5d-4c1a-8b7e-6f5d4c3b2a19"}},
                },
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=UploadRead | UploadPresigned,
    openapi_extra=_CREATE_BODIES,
    responses={
        413: {"description": "Over the byte or pixel limit", "content": {PROBLEM_JSON: {}}},
        429: {"description": "Rate limited", "content": {PROBLEM_JSON: {}}},
    },
)
async def create_upload(
    request: Request, response: Response, session: SessionDep, admission: AdmissionDep
) -> UploadRead | UploadPresigned:
    """Multipart ``file``: checked and stored, ready at once. JSON ``{content_type, bytes}``: a
    pending upload and a ``put_url`` to PUT the file to (checked when a job first uses it).
    JSON ``{asset_id}``: a ready upload of one of your image outputs, so a result feeds the next
    studio without being downloaded and sent again.

    Either way the id works for ``upload_ttl_seconds``; uploads cost no credits.
    """
    content_type = request.headers.get("content-type", "")
    tenant_id = admission.tenant_id
    if content_type.startswith("multipart/form-data"):
        form = await read_form(request)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ValidationFailed("file", "send the image as the multipart field `file`")
        # Starlette's form holds Starlette's UploadFile; FastAPI's only adds OpenAPI hooks.
        stored, info = await run_in_threadpool(
            read_image_upload_info, cast(FastAPIUploadFile, file), field="file"
        )
    elif content_type.startswith("application/json"):
        raw = await request.body()
        try:
            ask = (UploadFromAsset if b'"asset_id"' in raw else UploadPresign).model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc
        if isinstance(ask, UploadPresign):
            presigned = ask
            body = await run_in_threadpool(
                lambda: upload_service.presign(
                    session,
                    tenant_id=tenant_id,
                    content_type=presigned.content_type,
                    size_bytes=presigned.bytes,
                )
            )
            return _answered(request, response, admission, body)
        stored, info = await run_in_threadpool(
            lambda: read_asset_upload_info(session, tenant_id=tenant_id, asset_id=ask.asset_id)
        )
    else:
        raise InvalidRequest(
            "Send multipart/form-data with a `file`, or JSON {content_type, bytes} or {asset_id}"
        )
    upload = await run_in_threadpool(
        lambda: upload_service.create(
            session,
            tenant_id=tenant_id,
            data=stored.data,
            info=info,
            ext=stored.ext,
            content_type=stored.content_type,
        )
    )
    return _answered(request, response, admission, upload_service.to_read(upload))


def _answered(
    request: Request, response: Response, admission: Admission, body: UploadRead | UploadPresigned
) -> UploadRead | UploadPresigned:
    """The new upload with its Location and the caller's rate-limit headers."""
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{body.id}"
    response.headers.update(admission.rate.headers())
    return body


@router.get("", response_model=UploadPage)
def list_uploads(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> UploadPage:
    """The tenant's uploads not yet expired, newest first; pass ``next_cursor`` back as ``cursor``
    for the next page (the paging of ``GET /jobs``)."""
    return upload_service.page(session, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.get("/{upload_id}", response_model=UploadRead)
def get_upload(upload_id: str, session: ReadSessionDep, principal: PrincipalDep) -> UploadRead:
    """One upload of the tenant (404 once expired or deleted)."""
    return upload_service.to_read(
        upload_service.get(session, tenant_id=principal.tenant_id, upload_id=upload_id)
    )


@router.delete("/{upload_id}", status_code=204)
def delete_upload(upload_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete the upload; its object goes now, or once the queued or running jobs using it finish."""
    upload_service.delete(session, tenant_id=principal.tenant_id, upload_id=upload_id)
    return Response(status_code=204)
