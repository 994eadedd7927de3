"""What every job-creating POST must pass first: the tenant's rate limit and its Idempotency-Key.

Use ``AdmissionDep`` in a studio route; return ``admission.replayed()`` when it is set, and
finish with ``admission.accept(response, job_read)`` (``admission.remember`` for another body) so
the first response is stored for replays.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gateway.deps import PrincipalDep
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope
from imagestudio.jobs.schemas import JobRead
from imagestudio.ratelimits.service import (
    RateLimitState,
    StoredResponse,
    idempotency_service,
    rate_limit_service,
)
from imagestudio.tenants.service import Principal


async def request_fingerprint(request: Request) -> str:
    """SHA-256 of the route and the request's meaning: form fields and file digests, or canonical JSON.

    Raw bytes would not do: every multipart request has a fresh random boundary.
    """
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        items: list[tuple[str, str]] = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                await value.seek(0)
                items.append((name, "file:" + hashlib.sha256(data).hexdigest()))
            else:
                items.append((name, str(value)))
        digest.update(json.dumps(sorted(items)).encode())
    else:
        body = await request.body()
        try:
            digest.update(json.dumps(json.loads(body or b"null"), sort_keys=True).encode())
        except ValueError:
            digest.update(body)
    return digest.hexdigest()


@dataclass
class Admission:
    principal: Principal
    rate: RateLimitState
    idempotency_key: str | None = None
    replay: StoredResponse | None = None
    completed: bool = field(default=False)

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    def replayed(self) -> JSONResponse | None:
        """The stored first response, when this request repeats an Idempotency-Key."""
        if self.replay is None:
            return None
        headers = {**self.replay.headers, **self.rate.headers(), "Idempotent-Replayed": "true"}
        return JSONResponse(self.replay.body, status_code=self.replay.status, headers=headers)

    def accept(self, response: Response, body: JobRead, *, status: int = 202) -> JobRead:
        """Set Location and rate headers, and remember the response for replays."""
        response.headers["Location"] = body.links.self
        self.remember(response, body, status=status, headers={"Location": body.links.self})
        return body

    def remember(
        self, response: Response, body: BaseModel, *, status: int, headers: dict[str, str] | None = None
    ) -> None:
        """Set the rate headers, and store the response for replays of the Idempotency-Key."""
        response.headers.update(self.rate.headers())
        if self.idempotency_key:
            idempotency_service.complete(
                tenant_id=self.tenant_id,
                key=self.idempotency_key,
                response=StoredResponse(status, body.model_dump(mode="json"), headers or {}),
            )
        self.completed = True


def _tier_rate(tenant_id: str) -> int:
    with session_scope() as session:
        return tier_service.tier_of(session, tenant_id=tenant_id).requests_per_minute


async def get_admission(request: Request, principal: PrincipalDep) -> AsyncIterator[Admission]:
    limit = await run_in_threadpool(_tier_rate, principal.tenant_id)
    rate = await run_in_threadpool(
        lambda: rate_limit_service.hit(tenant_id=principal.tenant_id, policy="submissions", limit=limit)
    )
    admission = Admission(principal=principal, rate=rate)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        fingerprint = await request_fingerprint(request)
        admission.replay = await run_in_threadpool(
            lambda: idempotency_service.begin(tenant_id=principal.tenant_id, key=key, fingerprint=fingerprint)
        )
        admission.idempotency_key = key
    try:
        yield admission
    finally:
        if admission.idempotency_key and admission.replay is None and not admission.completed:
            # The request failed before a job existed: a corrected retry may reuse the key.
            await run_in_threadpool(
                lambda: idempotency_service.abandon(tenant_id=principal.tenant_id, key=key or "")
            )


AdmissionDep = Annotated[Admission, Depends(get_admission)]
