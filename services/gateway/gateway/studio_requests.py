"""Studio request bodies: JSON validated by the studio's request model, or a multipart form built into it.

A studio route takes ``body: Annotated[StudioBody[Model], Depends(studio_body(Model))]`` and
declares ``openapi_extra=request_body_openapi(Model)``: the fields are the model's, declared once.
In JSON an image field is an upload id; in a form it is a file (or, as text, an upload id). The
route then builds a :class:`JobDraft` and passes it to ``job_service.submit_draft``; the batch route
builds the same drafts from JSON entries.
"""

from __future__ import annotations

import copy
import types
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from imagestudio.config import get_settings
from imagestudio.errors import RequestTooLarge
from imagestudio.studios.common.request import StudioRequest

R = TypeVar("R", bound=StudioRequest)

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class StudioBody(Generic[R]):
    """A parsed studio request: the model, and the image fields a form sent as files."""

    request: R
    files: Mapping[str, UploadFile] = field(default_factory=dict)


def sent(upload: UploadFile | None) -> bool:
    """Whether a file field was really sent (browsers send an empty part for an unused file input)."""
    return upload is not None and bool(upload.filename or upload.size)


async def read_form(request: Request) -> FormData:
    """The request's form, held to the file, field and field-size limits (a 413 saying which).

    The body itself was already held to the route's byte limit (``gateway.guard``), so the files a
    form spools to temporary disk are bounded too.
    """
    settings = get_settings()
    try:
        return await request.form(
            max_files=settings.max_form_files,
            max_fields=settings.max_form_fields,
            max_part_size=settings.max_form_field_bytes,
        )
    except HTTPException as exc:
        # Starlette answers its form limits with a bare 400; say which limit, as a 413.
        detail = str(exc.detail)
        if exc.status_code != 400:
            raise
        if detail.startswith("Too many files"):
            raise RequestTooLarge(
                f"more than {settings.max_form_files} files in the form",
                field="files",
                limit=settings.max_form_files,
            ) from exc
        if detail.startswith("Too many fields"):
            raise RequestTooLarge(
                f"more than {settings.max_form_fields} fields in the form",
                field="fields",
                limit=settings.max_form_fields,
            ) from exc
        if detail.startswith("Part exceeded maximum size"):
            raise RequestTooLarge(
                f"a form field (not a file) is over the {settings.max_form_field_bytes} byte limit",
                field="fields",
                limit=settings.max_form_field_bytes,
            ) from exc
        raise


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    return False


def validate_json(model: type[R], data: bytes | Mapping[str, Any]) -> R:
    """The model from a JSON body (bytes) or a decoded object; pydantic's ValidationError when invalid."""
    if isinstance(data, bytes):
        return model.model_validate_json(data or b"null")
    return model.model_validate(data)


def _form_body(model: type[R], form: Any) -> StudioBody[R]:
    """Form fields as the model's values; FastAPI's form rules: the last value wins, blank is unset."""
    values: dict[str, Any] = {}
    files: dict[str, UploadFile] = {}
    for name, info in model.model_fields.items():
        items = form.getlist(name)
        if name in model.image_fields:
            uploads = [item for item in items if isinstance(item, UploadFile) and sent(item)]
            if uploads:
                files[name] = uploads[-1]
                continue
            items = [item for item in items if isinstance(item, str)]
        if _is_list(info.annotation):
            if items:
                values[name] = items
        elif items and items[-1] != "":
            values[name] = items[-1]
    return StudioBody(model.model_validate(values), files)


def _checked(parse: Callable[[], StudioBody[R]]) -> StudioBody[R]:
    try:
        return parse()
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


def studio_body(model: type[R]) -> Callable[[Request], AsyncIterator[StudioBody[R]]]:
    """A dependency parsing the body by its content type; invalid fields are a 422 naming them."""

    async def parse(request: Request) -> AsyncIterator[StudioBody[R]]:
        if request.headers.get("content-type", "").lower().startswith(_FORM_TYPES):
            form = await read_form(request)
            try:
                yield _checked(lambda: _form_body(model, form))
            finally:
                await form.close()
        else:
            data = await request.body()
            yield _checked(lambda: StudioBody(validate_json(model, data)))

    return parse


def _unset_by_omission(field_schema: dict[str, Any]) -> dict[str, Any]:
    """A form field's schema without JSON's ``null``: a form has no null, it leaves the field out.

    Declared, it invites clients (and Schemathesis) to send the text ``null``, which is a 422.
    """
    branches = field_schema.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return field_schema
    kept = [branch for branch in branches if branch != {"type": "null"}]
    rest = {k: v for k, v in field_schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


def request_body_openapi(model: type[StudioRequest]) -> dict[str, Any]:
    """``openapi_extra`` describing both bodies a studio route accepts (FastAPI declares neither)."""
    schema = model.model_json_schema()
    json_schema = {**schema, "required": sorted({*schema.get("required", []), *model.required_images})}
    form_schema = copy.deepcopy(json_schema)
    for name, field_schema in form_schema["properties"].items():
        form_schema["properties"][name] = _unset_by_omission(field_schema)
    for name in model.image_fields:
        form_schema["properties"][name] = {
            "type": "string",
            "format": "binary",
            "description": "The image file (a text value is taken as an upload id)",
        }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": form_schema},
            },
        }
    }
