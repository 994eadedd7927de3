"""Request bodies are held to their limits, and writes to the tenant's rate, before a body is read.

Requests go through httpx's ASGI transport, which reads a request body only when the app asks
for it, so a test can count how much of a body the gateway read.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from support import Embedded, make_image

from gateway.admission import HASH_CHUNK_BYTES, _form_items
from gateway.app import create_app
from gateway.guard import WRITE_METHODS
from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.errors import ImageTooLarge
from imagestudio.ratelimits.service import rate_limit_service
from imagestudio.tenants.service import tenant_service

API = "/api/image-studio"
JSON_LIMIT = 2048
FORM_LIMIT = 64 * 1024
LIMITS = {
    "IMAGESTUDIO_MAX_JSON_REQUEST_BYTES": str(JSON_LIMIT),
    "IMAGESTUDIO_MAX_FORM_REQUEST_BYTES": str(FORM_LIMIT),
    "IMAGESTUDIO_MAX_FORM_FILES": "2",
    "IMAGESTUDIO_MAX_FORM_FIELDS": "5",
    "IMAGESTUDIO_MAX_FORM_FIELD_BYTES": "1024",
}


@pytest.fixture
def app(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The gateway with small body limits (on the embedded stack's database)."""
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return create_app()


class Body:
    """A streamed request body that counts the chunks the app pulled."""

    def __init__(self, chunks: int, size: int = 1024, head: bytes = b"") -> None:
        self.chunks, self.size, self.head, self.read = chunks, size, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        for _ in range(self.chunks):
            self.read += 1
            yield b"0" * self.size


def call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **kwargs)

    response = asyncio.run(go())
    assert response.status_code < 500, response.text
    return response


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_too_large(response: httpx.Response, *, field: str, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/request-too-large")
    assert problem["field"] == field and problem["limit"] == limit, problem
    assert str(limit) in problem["detail"]


def test_an_unauthenticated_big_body_is_401_before_any_of_it_is_read(app: FastAPI) -> None:
    for path in (f"{API}/personas", f"{API}/social/optimize", f"{API}/uploads"):
        chunked = Body(chunks=50, size=1024 * 1024)
        response = call(app, "POST", path, content=chunked, headers={"Content-Type": "application/json"})
        assert response.status_code == 401 and chunked.read == 0, (path, chunked.read)
        declared = Body(chunks=50, size=1024 * 1024)
        headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(50 * 1024 * 1024)}
        response = call(app, "POST", path, content=declared, headers=headers)
        assert response.status_code == 401 and declared.read == 0, (path, declared.read)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_declared_body_over_the_route_limit_is_413_naming_it_before_it_is_read(
    app: FastAPI, embedded: Embedded
) -> None:
    key = embedded.new_key()
    cases = [
        ("POST", f"{API}/personas", JSON_LIMIT),
        ("PATCH", f"{API}/webhooks/endpoints/x", JSON_LIMIT),
        ("POST", f"{API}/social/optimize", FORM_LIMIT),
        ("POST", f"{API}/uploads", FORM_LIMIT),
    ]
    for method, path, limit in cases:
        body = Body(chunks=200)
        headers = {**auth(key), "Content-Type": "application/json", "Content-Length": str(limit + 1)}
        response = call(app, method, path, content=body, headers=headers)
        assert_too_large(response, field="body", limit=limit)
        assert body.read == 0, path


def test_a_chunked_body_is_stopped_at_the_route_limit(app: FastAPI, embedded: Embedded) -> None:
    key = embedded.new_key()
    json_body = Body(chunks=1000)
    response = call(
        app,
        "POST",
        f"{API}/personas",
        content=json_body,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert_too_large(response, field="body", limit=JSON_LIMIT)
    assert json_body.read <= JSON_LIMIT // 1024 + 1

    part = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    for path in (f"{API}/social/optimize", f"{API}/uploads"):
        form_body = Body(chunks=10_000, head=part)  # 10 MB of "file" that never ends
        headers = {**auth(key), "Content-Type": "multipart/form-data; boundary=x"}
        response = call(app, "POST", path, content=form_body, headers=headers)
        assert_too_large(response, field="body", limit=FORM_LIMIT)
        assert form_body.read <= FORM_LIMIT // 1024 + 1, path


def test_forms_over_the_file_field_or_field_size_limit_are_413_saying_which(
    app: FastAPI, embedded: Embedded
) -> None:
    key = embedded.new_key()
    image = make_image(64, 48)
    too_many_files = [("image", (f"{n}.png", image, "image/png")) for n in range(3)]
    too_many_fields = {f"field{n}": "x" for n in range(6)}
    for path in (f"{API}/social/optimize", f"{API}/uploads"):
        response = call(app, "POST", path, headers=auth(key), files=too_many_files)
        assert_too_large(response, field="files", limit=2)
        response = call(
            app, "POST", path, headers=auth(key), files={"image": ("a.png", image)}, data=too_many_fields
        )
        assert_too_large(response, field="fields", limit=5)
        response = call(
            app,
            "POST",
            path,
            headers=auth(key),
            files={"image": ("a.png", image)},
            data={"formats": "x" * 2000},
        )
        assert_too_large(response, field="fields", limit=1024)


def test_an_idempotency_fingerprint_hashes_files_in_chunks_and_caps_them() -> None:
    class Recording(io.BytesIO):
        largest = 0

        def read(self, size: int | None = -1) -> bytes:
            Recording.largest = max(Recording.largest, size if size is not None and size >= 0 else 1 << 62)
            return super().read(size)

    from starlette.datastructures import FormData, UploadFile

    data = b"a" * (2 * HASH_CHUNK_BYTES + 7)
    form = FormData([("image", UploadFile(Recording(data), filename="a.png")), ("formats", "x")])
    other = FormData([("image", UploadFile(io.BytesIO(data + b"b"), filename="a.png")), ("formats", "x")])
    items = _form_items(form, limit=len(data))
    assert Recording.largest == HASH_CHUNK_BYTES  # never the whole file at once
    assert items != _form_items(other, limit=len(data) + 1)
    assert items == _form_items(form, limit=len(data))  # the file was rewound for the route
    with pytest.raises(ImageTooLarge) as refused:
        _form_items(form, limit=len(data) - 1)
    assert refused.value.field == "image"


# --- writes are rate-limited ------------------------------------------------------------------


def _write_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every write the API offers (the presigned PUT of local storage is signed, not keyed, and
    unlisted; its body limit is tested with uploads)."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in WRITE_METHODS
    ]


def _exhaust(key: str, *, limit: int) -> str:
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        tenant_service.set_limits(session, tenant_id=tenant_id, requests_per_minute=limit)
    for policy in ("writes", "submissions"):
        for _ in range(limit):
            rate_limit_service.hit(tenant_id=tenant_id, policy=policy, limit=limit)
    return tenant_id


def test_every_write_route_goes_through_the_rate_limit_before_its_body(
    app: FastAPI, embedded: Embedded
) -> None:
    """A route added later is covered too: every POST/PUT/PATCH/DELETE taking a key answers 429."""
    key = embedded.new_key()
    _exhaust(key, limit=1)
    writes = _write_operations(app)
    assert len(writes) > 20
    for method, path in writes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        response = call(app, method, concrete, headers={**auth(key), "Content-Type": "application/json"})
        assert response.status_code == 429, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["RateLimit"].endswith(f"r=0;t={response.headers['Retry-After']}")
        assert "RateLimit-Policy" in response.headers


def test_persona_writes_over_the_rate_are_429_with_the_submission_headers(
    app: FastAPI, embedded: Embedded
) -> None:
    key = embedded.new_key()
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        tenant_service.set_limits(session, tenant_id=tenant_id, requests_per_minute=2)
    persona = {"name": "Brand", "description": "Calm, bright"}
    first = call(app, "POST", f"{API}/personas", headers=auth(key), json=persona)
    assert first.status_code == 201, first.text
    assert first.headers["RateLimit-Policy"] == '"writes";q=2;w=60'
    assert first.headers["RateLimit"].startswith('"writes";r=1;')
    persona_id = first.json()["id"]
    second = call(app, "DELETE", f"{API}/personas/{persona_id}", headers=auth(key))
    assert second.status_code == 204 and second.headers["RateLimit"].startswith('"writes";r=0;')
    refused = call(app, "POST", f"{API}/personas", headers=auth(key), json=persona)
    assert refused.status_code == 429
    problem = refused.json()
    assert problem["violated-policies"] == ["writes"] and "write requests" in problem["detail"]
    assert refused.headers["RateLimit-Policy"] == '"writes";q=2;w=60'
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Reads are not writes: still answered.
    assert call(app, "GET", f"{API}/personas", headers=auth(key)).status_code == 200
