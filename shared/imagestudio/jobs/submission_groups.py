"""A tenant's submissions from the event loop, gathered into one statement while one is in flight.

Every submission statement updates its tenant's one account row (the credits held and the
concurrency slots: the no-overdraw guarantee), so a tenant's parallel submissions queue on that
row inside PostgreSQL: each waits for the one before it to commit, wakes, and re-checks the row.
Measured (bench/README.md, issue 31, session 7), that queueing is about half of PostgreSQL's CPU
per submission when one tenant submits from 8 connections: 0.65 ms per job one job a statement,
0.24 ms per job four jobs a statement. So while a tenant's statement is in flight, the next
submissions of that tenant wait here instead of on the row, and go together in the next
statement: the same statement, the same account check over all of them (their sum held, their
slots taken), each job with its own row, event, message and reserve, all committed or none.

Nothing waits that would not have waited anyway: a tenant's first submission goes at once, and
the others would have queued on the account row behind it. A group the account refuses as a
whole (its sum does not fit) is answered "refused" for each job, nothing written; the caller then
submits each alone on the thread path, which accepts those that fit and explains the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: Jobs at most in one statement (a larger backlog goes over the next statements).
MAX_GROUP = 32

T = TypeVar("T")


@dataclass
class _Group(Generic[T]):
    """A key's submissions waiting for the statement in flight to end."""

    items: list[T] = field(default_factory=list)
    answers: list[asyncio.Future[bool]] = field(default_factory=list)


class SubmissionGroups(Generic[T]):
    """Per key (a tenant and its limits), at most one statement in flight; what arrives meanwhile
    goes in the next one. ``send`` writes a group's submissions in one statement and says whether
    the account accepted them (all of them, or none)."""

    def __init__(self, send: Callable[[Sequence[T]], Awaitable[bool]], *, max_group: int = MAX_GROUP) -> None:
        self._send = send
        self._max_group = max_group
        self._waiting: dict[Hashable, _Group[T]] = {}
        #: The statements sent for waiters, held until done (the loop keeps only weak references).
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, key: Hashable, item: T) -> bool:
        """Whether ``item``'s statement was accepted by the account (False: nothing of it written)."""
        group = self._waiting.get(key)
        if group is not None:  # a statement is in flight: wait to go in the next one
            answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            group.items.append(item)
            group.answers.append(answer)
            return await answer
        self._waiting[key] = _Group()
        try:
            return await self._send([item])
        finally:
            # Those who came meanwhile go next, on a task of their own: this caller answers now.
            self._next(key)

    def _next(self, key: Hashable) -> None:
        group = self._waiting[key]
        # A waiter whose request was cancelled meanwhile is left out: its job is not written.
        kept = [
            (item, answer)
            for item, answer in zip(group.items, group.answers, strict=True)
            if not answer.done()
        ]
        group = _Group([item for item, _ in kept], [answer for _, answer in kept])
        if not group.items:
            del self._waiting[key]
            return
        now = _Group(group.items[: self._max_group], group.answers[: self._max_group])
        rest = _Group(group.items[self._max_group :], group.answers[self._max_group :])
        self._waiting[key] = rest
        task = asyncio.get_running_loop().create_task(self._send_group(key, now))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_group(self, key: Hashable, group: _Group[T]) -> None:
        try:
            accepted = await self._send(group.items)
        except BaseException as exc:  # every waiter hears what happened to its statement
            for answer in group.answers:
                if not answer.done():
                    answer.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            for answer in group.answers:
                if not answer.done():
                    answer.set_result(accepted)
        finally:
            self._next(key)
