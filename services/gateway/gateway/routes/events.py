"""Live job events as Server-Sent Events, resumable with ``Last-Event-ID``.

Every event is a ``job_events`` row (status changes, per-output progress), so a stream works
whichever process ran the job, and its id is the SSE id a client resumes from. The stream ends
after the terminal event; asked again past it, the answer is 204, which tells an EventSource to
stop reconnecting.

A tenant holds at most ``max_event_streams_per_tenant`` streams open per gateway (429 past it),
and a stream lasts at most ``max_stream_seconds``: then it ends with a ``stream.closed`` event
(``{"reason": "lifetime"}``) and the client reconnects with ``Last-Event-ID``, missing nothing.
Its key is re-checked every ``stream_key_check_seconds``: once revoked, the stream ends with
``{"reason": "unauthorized"}`` (a reconnect is then a 401).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from gateway.deps import KeyCheck, PrincipalDep, key_check
from gateway.guard import GuardedRoute
from gateway.job_feed import FeedEvent, JobFeed
from gateway.problems import PROBLEM_RESPONSES
from gateway.stream_slots import Slot, event_streams
from gateway.studio_options import job_feed
from imagestudio.config import get_settings
from imagestudio.db import new_session
from imagestudio.errors import Unauthorized, ValidationFailed
from imagestudio.jobs.models import JobStatus
from imagestudio.jobs.schemas import JOB_EXAMPLE
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


#: The example job's stream as a client reads it (the OpenAPI document's example).
_EXAMPLE_STREAM = f"retry: {RETRY_MS}\n\n" + "".join(
    _frame(FeedEvent(n, JOB_EXAMPLE["id"], kind, data, datetime(2025, 1, 31, 9, 30, n, tzinfo=UTC)))
    for n, kind, data in (
        (1, "job.running", {"status": "running", "attempt": 1}),
        (2, "job.progress", {"progress": 0.5, "message": "instagram.story"}),
        (3, "job.succeeded", {"status": "succeeded"}),
    )
)


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


def closed_frame(reason: str) -> str:
    """The last frame of a stream the gateway ends before the job does (no id: resuming is unaffected)."""
    return f"event: stream.closed\ndata: {json.dumps({'reason': reason})}\n\n"


async def _stream(
    feed: JobFeed,
    job_id: str,
    after_id: int,
    *,
    lifetime: float,
    check: KeyCheck,
    check_every: float,
) -> AsyncIterator[str]:
    """The job's frames until its terminal event, the stream's lifetime, or its key's revocation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    next_check = loop.time() + check_every
    next_heartbeat = loop.time() + HEARTBEAT_SECONDS
    yield f"retry: {RETRY_MS}\n\n"
    async with feed.subscribe(job_id, after_id=after_id) as subscription:
        while (left := deadline - loop.time()) > 0:
            wake = min(next_check, next_heartbeat) - loop.time()
            event = await subscription.next(max(0.0, min(wake, left)))
            now = loop.time()
            if now >= next_check:
                next_check = now + check_every
                try:
                    await check()
                except Unauthorized:  # revoked since the stream opened: it holds nothing more
                    yield closed_frame("unauthorized")
                    return
            if event is not None:
                yield _frame(event)
                next_heartbeat = now + HEARTBEAT_SECONDS
                if event.terminal:
                    return
            elif now >= next_heartbeat and deadline - now > 0:
                yield ": keep-alive\n\n"
                next_heartbeat = now + HEARTBEAT_SECONDS
    yield closed_frame("lifetime")


class HeldStreamingResponse(StreamingResponse):
    """A stream holding one of the tenant's stream slots until it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], *, slot: Slot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "Server-Sent Events: `id`, `event` and `data` lines per event; "
                        "`data` is the event as JSON (id, job_id, type, created_at, data)",
                    },
                    "example": _EXAMPLE_STREAM,
                }
            },
            "description": "The job's events, ending after the terminal one",
        },
        204: {"description": "The job has ended and every event was sent: stop reconnecting"},
        429: {
            "description": "Too many streams open for the tenant",
            "content": {"application/problem+json": {}},
        },
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
    settings = get_settings()
    slot = event_streams(request).acquire(principal.tenant_id, allowed=settings.max_event_streams_per_tenant)
    return HeldStreamingResponse(
        _stream(
            job_feed(request),
            job_id,
            after_id,
            lifetime=settings.max_stream_seconds,
            check=key_check(request),
            check_every=settings.stream_key_check_seconds,
        ),
        slot=slot,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
