"""``Prefer: wait``, which every studio request accepts (its per-job webhook is a body field).

A studio route's submission dependency opens the wait with ``open_wait`` (and ``close_wait`` after
the route) and returns ``answer(request, response, session, body, tenant_id=..., wait=wait)``
with the body ``admission.accept`` gave back: 202 with the queued job, or, when the client asked
to wait and the job ends in time, 200 with the finished job. The wait is asynchronous (no thread
held) and fed by the job feed. A tenant holds at most ``max_waits_per_tenant`` waits at once
per gateway: past that the request is refused (429) before its job is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from gateway.deps import KeyCheck, key_check
from gateway.job_feed import JobFeed
from gateway.stream_slots import Slot, waits
from imagestudio.config import get_settings
from imagestudio.db import new_session
from imagestudio.jobs.models import JobStatus
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import job_service
from imagestudio.tenants.service import Principal

#: Longest ``Prefer: wait`` honoured, in seconds (Replicate's limit too).
MAX_WAIT_SECONDS = 60

_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def job_feed(request: Request) -> JobFeed:
    """The app's job feed, made on first use inside the running event loop."""
    feed: JobFeed | None = getattr(request.app.state, "job_feed", None)
    if feed is None:
        feed = JobFeed(poll_seconds=get_settings().events_poll_seconds)
        request.app.state.job_feed = feed
    return feed


def prefer_wait(prefer: str | None) -> int | None:
    """Seconds to wait from ``Prefer: wait=N`` (RFC 7240), capped; None when not asked."""
    match = _WAIT.search(prefer or "")
    if not match:
        return None
    # Never int() a client's digit string whole (thousands of digits raise ValueError): a value
    # longer than the cap's own digits is simply the cap, which RFC 7240 lets us apply.
    digits = match.group(1).lstrip("0")
    if len(digits) > len(str(MAX_WAIT_SECONDS)):
        return MAX_WAIT_SECONDS
    return min(int(digits or "0"), MAX_WAIT_SECONDS) or None


@dataclass
class Wait:
    """An honoured ``Prefer: wait``: the seconds, and the tenant's wait slot it holds."""

    seconds: int
    slot: Slot


#: The ``Prefer`` request header, as studio routes declare it.
PreferHeader = Annotated[
    str | None,
    Header(description="`wait=N` (N ≤ 60): answer 200 with the finished job if it ends within N seconds"),
]


def open_wait(request: Request, principal: Principal, prefer: str | None) -> Wait | None:
    """The honoured ``Prefer: wait``, holding one of the tenant's wait slots (429 when none is free)."""
    seconds = prefer_wait(prefer)
    if seconds is None:
        return None
    slot = waits(request).acquire(principal.tenant_id, allowed=get_settings().max_waits_per_tenant)
    return Wait(seconds, slot)


def close_wait(wait: Wait | None) -> None:
    """After the route: free the slot of a wait that never started (refused, replayed or failed)."""
    if wait is not None and not wait.slot.handed_over:
        wait.slot.release()


class FinishedJobResponse(Response):
    """Waits (asynchronously) for the job to end, then answers 200 with it, or 202 as usual."""

    def __init__(
        self,
        *,
        feed: JobFeed,
        tenant_id: str,
        job_id: str,
        wait: Wait,
        headers: dict[str, str],
        check: KeyCheck,
    ) -> None:
        super().__init__(status_code=202)
        self._feed, self._tenant_id, self._job_id = feed, tenant_id, job_id
        self._check = check
        self._seconds, self._answer_headers = wait.seconds, headers
        self._slot = wait.slot
        self._slot.handed_over = True

    def _read(self) -> dict[str, Any]:
        session = new_session()
        try:
            job = job_service.read(session, tenant_id=self._tenant_id, job_id=self._job_id)
            return job.model_dump(mode="json")
        finally:
            session.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            # A key revoked meanwhile raises Unauthorized here: answered 401 (nothing sent yet).
            await self._feed.wait_terminal(
                self._job_id,
                timeout=self._seconds,
                check=self._check,
                check_every=get_settings().stream_key_check_seconds,
            )
        finally:
            self._slot.release()
        body = await run_in_threadpool(self._read)
        finished = JobStatus(body["status"]).terminal
        response = JSONResponse(
            body,
            status_code=200 if finished else 202,
            headers={**self._answer_headers, "Preference-Applied": f"wait={self._seconds}"},
        )
        await response(scope, receive, send)


def answer(
    request: Request,
    response: Response,
    session: Session,
    body: JobRead,
    *,
    tenant_id: str,
    wait: Wait | None,
) -> JobRead | Response:
    """202 with the queued job, or under ``Prefer: wait`` the finished job when it ends in time."""
    if not wait:
        return body
    # The wait must not keep the request's transaction (and its connection, or SQLite's lock) open.
    session.rollback()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers.setdefault("location", body.links.self)
    return FinishedJobResponse(
        feed=job_feed(request),
        tenant_id=tenant_id,
        job_id=body.id,
        wait=wait,
        headers=headers,
        check=key_check(request),
    )
