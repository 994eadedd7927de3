"""Live job events for SSE streams and ``Prefer: wait``, fed from the ``job_events`` table.

Workers run in other processes, so the database is the source: the gateway polls it, and one
query per tick serves every open stream of the process (each job read from its own last id, on
the ``(job_id, id)`` index). Polling stops when nobody listens. Events of one job are written
under that job's row lock, so their ids grow in commit order and a cursor per job misses none.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway.deps import KeyCheck
from imagestudio.db import new_session
from imagestudio.jobs.service import job_service
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: Event types after which a job never changes again.
TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled", "job.expired"})
#: Events read per poll; a longer backlog is read over the next polls.
POLL_LIMIT = 1000


@dataclass(frozen=True)
class FeedEvent:
    id: int
    job_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


@dataclass
class Subscription:
    """One listener's view of one job: events arrive in id order, each once."""

    job_id: str
    after_id: int
    _queue: asyncio.Queue[FeedEvent] = field(default_factory=asyncio.Queue)

    async def next(self, timeout: float) -> FeedEvent | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def _offer(self, event: FeedEvent) -> None:
        if event.id > self.after_id:
            self.after_id = event.id
            self._queue.put_nowait(event)


def _fetch(cursors: dict[str, int]) -> list[FeedEvent]:
    session = new_session()
    try:
        return [
            FeedEvent(id=e.id, job_id=e.job_id, type=e.type, data=dict(e.data), created_at=e.created_at)
            for e in job_service.events_after(session, cursors=cursors, limit=POLL_LIMIT)
        ]
    finally:
        session.close()


class JobFeed:
    """The process's poller of job events; lives on ``app.state`` and runs only while subscribed."""

    def __init__(self, *, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._subscriptions: dict[int, Subscription] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @asynccontextmanager
    async def subscribe(self, job_id: str, *, after_id: int = 0) -> AsyncIterator[Subscription]:
        key = next(self._ids)
        subscription = Subscription(job_id=job_id, after_id=after_id)
        self._subscriptions[key] = subscription
        self._wake.set()  # a new listener gets its backlog on the next tick, not a poll later
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="job-feed")
        try:
            yield subscription
        finally:
            del self._subscriptions[key]

    async def wait_terminal(
        self, job_id: str, *, timeout: float, check: KeyCheck | None = None, check_every: float = 5.0
    ) -> bool:
        """True when the job ends (or has ended) within ``timeout`` seconds.

        ``check`` runs every ``check_every`` seconds while waiting; what it raises ends the wait.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_check = loop.time() + check_every
        async with self.subscribe(job_id) as subscription:
            while (left := deadline - loop.time()) > 0:
                if check is not None:
                    left = min(left, max(0.0, next_check - loop.time()))
                event = await subscription.next(left)
                if event is not None and event.terminal:
                    return True
                if check is not None and loop.time() >= next_check:
                    await check()
                    next_check = loop.time() + check_every
        return False

    async def _run(self) -> None:
        while self._subscriptions:
            cursors: dict[str, int] = {}
            for s in list(self._subscriptions.values()):
                cursors[s.job_id] = min(cursors.get(s.job_id, s.after_id), s.after_id)
            try:
                events = await run_in_threadpool(_fetch, cursors)
            except Exception as exc:  # database away: the streams wait, the next tick retries
                log.warning("job_feed.poll_failed", error=repr(exc))
                events = []
            for event in events:
                for s in list(self._subscriptions.values()):
                    if s.job_id == event.job_id:
                        s._offer(event)
            if len(events) == POLL_LIMIT:
                continue  # a backlog: read on at once
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
