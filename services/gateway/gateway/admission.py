"""What every job-creating POST must pass first: the tenant's rate limit and its Idempotency-Key.

Use ``AdmissionDep`` in a studio route; return ``admission.replayed()`` when it is set, pass
``idempotency=admission.claim`` to ``job_service.submit`` (the key commits in the job's
transaction, with the response replays will get), and finish with ``admission.accept(response,
job_read)`` for the Location and rate headers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from gateway.deps import PrincipalDep, SessionDep
from gateway.problems import RATE_LIMIT_SCOPE_KEY
from gateway.studio_requests import read_form
from imagestudio.config import get_settings
from imagestudio.errors import ImageTooLarge
from imagestudio.idempotency.service import IdempotencyClaim, StoredResponse, idempotency_service
from imagestudio.jobs.schemas import JobRead
from imagestudio.ratelimits.service import RateLimitState, rate_limit_service
from imagestudio.tenants.service import Principal

T = TypeVar("T")

#: Bytes of an uploaded file hashed per step of an Idempotency-Key's fingerprint.
HASH_CHUNK_BYTES = 1024 * 1024


def _form_items(form: FormData, *, limit: int) -> list[tuple[str, str]]:
    """Each form field's value, each file as its SHA-256, hashed in chunks (no file held whole)."""
    items: list[tuple[str, str]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            digest, size = hashlib.sha256(), 0
            value.file.seek(0)
            while chunk := value.file.read(HASH_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise ImageTooLarge(name, f"the upload is over the {limit} byte limit")
                digest.update(chunk)
            value.file.seek(0)
            items.append((name, "file:" + digest.hexdigest()))
        else:
            items.append((name, str(value)))
    return items


async def request_fingerprint(request: Request) -> str:
    """SHA-256 of the route and the request's meaning: form fields and file digests, or canonical JSON.

    Raw bytes would not do: every multipart request has a fresh random boundary. Files are hashed
    in a worker thread (a spooled file may be on disk), each up to ``max_upload_bytes``.
    """
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await read_form(request)
        items = await run_in_threadpool(_form_items, form, limit=get_settings().max_upload_bytes)
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
    #: The request's Idempotency-Key: pass it to ``job_service.submit`` so the key commits with the job.
    claim: IdempotencyClaim | None = None
    replay: StoredResponse | None = None

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    def replayed(self) -> JSONResponse | None:
        """The stored first response, when this request repeats an Idempotency-Key."""
        if self.replay is None:
            return None
        headers = {**self.replay.headers, **self.rate.headers(), "Idempotent-Replayed": "true"}
        return JSONResponse(self.replay.body, status_code=self.replay.status, headers=headers)

    def accept(self, response: Response, body: JobRead) -> JobRead:
        """Set Location and rate headers on the 202."""
        self.locate(response, body.links.self)
        return body

    def locate(self, response: Response, location: str) -> None:
        """The 202's headers: Location (the job's path) and the rate limit's."""
        response.headers["Location"] = location
        response.headers.update(self.rate.headers())


def _lookup(session: Session, claim: IdempotencyClaim) -> StoredResponse | None:
    try:
        return idempotency_service.lookup(session, claim=claim)
    finally:
        # End the read (and commit an expired key's removal): the route's work comes later, and on
        # SQLite an open transaction would hold the write lock while the upload is checked.
        session.commit()


async def in_submit_thread(request: Request, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in a worker thread lent to submissions (``gateway_submit_threads`` at once).

    Without a lifespan (a test client outside ``with``), in the thread pool's own limit.
    """
    limiter: CapacityLimiter | None = getattr(request.app.state, "submit_limiter", None)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


async def admit(
    request: Request, principal: Principal, session: Session | Callable[[], Session]
) -> Admission:
    """Count the request against the tenant's submission rate (429), then read its Idempotency-Key.

    ``session`` may be a function making it: only an Idempotency-Key needs one here.
    """
    limit = principal.limits.requests_per_minute  # looked up with the key: no query here
    rate = await rate_limit_service.hit_async(
        tenant_id=principal.tenant_id, policy="submissions", limit=limit
    )
    request.scope[RATE_LIMIT_SCOPE_KEY] = rate  # a refusal from here on carries it
    admission = Admission(principal=principal, rate=rate)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        claim = IdempotencyClaim(
            tenant_id=principal.tenant_id, key=key, fingerprint=await request_fingerprint(request)
        )
        if not isinstance(session, Session):
            session = session()
        admission.replay = await in_submit_thread(request, _lookup, session, claim)
        admission.claim = claim
    return admission


async def get_admission(request: Request, principal: PrincipalDep, session: SessionDep) -> Admission:
    return await admit(request, principal, session)


AdmissionDep = Annotated[Admission, Depends(get_admission)]
