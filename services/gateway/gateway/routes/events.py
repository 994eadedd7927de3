"""Live job events as Server-Sent Events, resumable with ``Last-Event-ID``.

Every event is a ``job_events`` row (status changes, per-output progress), so a stream works
whichever process ran the job, and its id is the SSE id a client resumes from. The stream ends
after the terminal event; asked again past it, the answer is 204, which tells an EventSource to
stop reconnecting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.job_feed import FeedEvent, JobFeed
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_options import job_feed
from imagestudio.db import new_session
from imagestudio.errors import ValidationFailed
from imagestudio.jobs.models import JobStatus
from imagestudio.jobs.service import job_service

router = APIRouter(route_class=GuardedRoute, prefix="/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)

#: Seconds between comment lines that keep idle proxies from closing a quiet stream.
HEARTBEAT_SECONDS = 15.0
#: Largest event id (a 64-bit signed column); a larger cursor names no event this stream sent.
MAX_EVENT_ID = 2**63 - 1
#: Milliseconds an EventSource waits before reconnecting.
RETRY_MS = 2000


def _frame(event: FeedEvent) -> str:
    data = {
        "id": event.id,
        "job_id": event.job_id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _cursor(last_event_id: str | None, after: int | None) -> int:
    raw = last_event_id if last_event_id is not None else after
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed("Last-Event-ID", "must be an event id this stream sent") from exc
    if not 0 <= value <= MAX_EVENT_ID:
        raise ValidationFailed("Last-Event-ID", "must be an event id this stream sent")
    return value


def _terminal(tenant_id: str, job_id: str) -> bool:
    """Whether the job (the tenant's, else 404) has ended."""
    session = new_session()
    try:
        return JobStatus(job_service.get(session, tenant_id=tenant_id, job_id=job_id).status).terminal
    finally:
        session.close()


def _has_events_after(job_id: str, after_id: int) -> bool:
    session = new_session()
    try:
        return bool(job_service.events_after(session, cursors={job_id: after_id}, limit=1))
    finally:
        session.close()


async def _stream(feed: JobFeed, job_id: str, after_id: int) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    async with feed.subscribe(job_id, after_id=after_id) as subscription:
        while True:
            event = await subscription.next(HEARTBEAT_SECONDS)
            if event is None:
                yield ": keep-alive\n\n"
                continue
            yield _frame(event)
            if event.terminal:
                return


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The job's events, ending after the terminal one",
        },
        204: {"description": "The job has ended and every event was sent: stop reconnecting"},
    },
)
async def job_events(
    job_id: str,
    request: Request,
    principal: PrincipalDep,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event id")
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_EVENT_ID, description="Resume after this event id (for clients without headers)"),
    ] = None,
) -> Response:
    """Status changes and per-output progress of a job as Server-Sent Events (`id` = event id)."""
    after_id = _cursor(last_event_id, after)
    terminal = await run_in_threadpool(_terminal, principal.tenant_id, job_id)
    if terminal and after_id and not await run_in_threadpool(_has_events_after, job_id, after_id):
        return Response(status_code=204)
    return StreamingResponse(
        _stream(job_feed(request), job_id, after_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
