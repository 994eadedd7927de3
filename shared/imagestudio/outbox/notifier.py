"""Waking relays in other processes: one ``NOTIFY`` after commits that staged outbox rows, coalesced.

A ``NOTIFY`` inside the committing transaction makes PostgreSQL take a database-wide lock at
commit and hold it through the commit's WAL flush, so every notifying transaction in the database
commits one after another (bench/README.md, issue 31: 8 writers committed a one-row INSERT 3-9×
slower with a ``pg_notify`` in it). The gateway's every submission was such a transaction.

Instead, a commit that staged rows asks this process's notifier (:meth:`CommitNotifier.request`),
and one thread sends ``NOTIFY`` on a connection of its own, autocommitted, outside every
submission's transaction. Asks that come while one is being sent are answered by one more after
it: every commit is followed by a ``NOTIFY`` that began after it, so a relay woken by it sees the
commit; under load that is one per round trip instead of one per job. A ``NOTIFY`` lost (server
away, this process killed between its commit and the send) delays a message until the relays'
next sweep (``outbox_poll_seconds``); it never loses one: the row is committed.

A commit made on an event loop (the gateway's JSON submission) asks a :class:`LoopNotifier`
instead: the same coalescing, on the loop, on an async connection of its own, with no thread to
wake and no hand-off of the GIL per send: the gateway spent 10-24 % less CPU per job for it
(bench/README.md, issue 31, "the loop's own wake").
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.pq import ExecStatus

from imagestudio.db import AsyncConnections
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: Longest pause, in seconds, after a failed send before the next try (asks meanwhile coalesce).
MAX_BACKOFF_SECONDS = 5.0
#: Longest wait, in seconds, at a process's exit for its last asks to be answered.
EXIT_FLUSH_SECONDS = 2.0


class CommitNotifier:
    """One thread per process sending ``notification`` (a statement) after asks, coalesced.

    ``url`` gives the database to notify at each (re)connection (the process's may change: tests
    switch databases), ``connect`` opens an autocommit connection to it (injectable for tests).
    """

    def __init__(
        self,
        notification: str,
        *,
        url: Callable[[], str],
        connect: Callable[[str], psycopg.Connection[tuple[object, ...]]] | None = None,
    ) -> None:
        self._notification = notification
        self._url = url
        self._connect = connect or (lambda u: psycopg.connect(u, autocommit=True, connect_timeout=5))
        self._changed = threading.Condition()
        #: Asks so far, and how many of them a send that began after them has answered.
        self._asks = 0
        self._answered = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        #: Notifications sent (tests and the bench read it).
        self.sent = 0

    def request(self) -> None:
        """Have a notification sent that begins after this call (call it after the commit)."""
        with self._changed:
            self._asks += 1
            self._changed.notify_all()
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._start()

    def flush(self, timeout: float) -> bool:
        """Wait until every ask made so far is answered; False when ``timeout`` passed first."""
        with self._changed:
            asked = self._asks
            return self._changed.wait_for(lambda: self._answered >= asked, timeout)

    def _start(self) -> None:
        with self._changed:  # a forked child inherits the object, not the thread
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                # A short-lived process (a CLI command) must not exit with its ask unanswered:
                # daemon threads still run while atexit callbacks do.
                atexit.register(self.flush, EXIT_FLUSH_SECONDS)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="outbox-notify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        url = ""
        backoff = 0.1
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._answered < self._asks)
                asked = self._asks  # every ask counted here was made before this send begins
            try:
                if conn is None or conn.closed or url != self._url():
                    if conn is not None:
                        conn.close()
                    url = self._url()
                    conn = self._connect(url)
                conn.execute(self._notification)
            except (psycopg.Error, OSError) as exc:  # the relays' sweeps publish meanwhile
                log.warning("outbox.notify_failed", error=repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 0.1
            with self._changed:
                self._answered = asked
                self.sent += 1
                self._changed.notify_all()


class LoopNotifier:
    """Sends ``notification`` (a statement) from the event loop after commits made on it, coalesced.

    At most one send in flight, on ``connections`` (the notifier's own: a submission never waits
    for a place behind it, nor it behind a submission); an ask made while one is in flight gets
    one more after it, so every ask is answered by a send that began after it. Never inside a
    submission's transaction (the statement runs on another connection, autocommitted). A send
    that fails hands its asks to ``fallback`` (the thread notifier, which retries with backoff):
    a wake is late, never lost, and at worst a message waits for the relays' sweep. ``execute``
    runs the statement (by default :func:`simple_query`; injectable for tests).
    """

    def __init__(
        self,
        notification: str,
        connections: AsyncConnections,
        *,
        fallback: CommitNotifier,
        execute: Callable[[psycopg.AsyncConnection[Any], bytes], Awaitable[None]] | None = None,
    ) -> None:
        self._notification = notification.encode()
        self._connections = connections
        self._execute = execute or simple_query
        self._fallback = fallback
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only a weak reference
        self._again = False
        self._closed = False
        #: Notifications sent (tests and the bench read it).
        self.sent = 0

    def request(self) -> None:
        """Have a notification sent that begins after this call (call it on the loop, after the commit)."""
        if self._closed:  # a request answered after shutdown began: the thread answers it
            self._fallback.request()
        elif self._task is not None and not self._task.done():
            self._again = True  # the send in flight may have begun before the commit: one more
        else:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while True:
            self._again = False  # every ask made before this point is answered by this send
            try:
                async with self._connections.connection() as conn:
                    await self._execute(conn, self._notification)
            except (psycopg.Error, OSError) as exc:
                log.warning("outbox.notify_failed", error=repr(exc), on="loop")
                self._fallback.request()  # begins after this failure, so after every ask here
                return
            self.sent += 1
            if not self._again:
                return  # with no await between the check and the end: no ask can slip past it

    async def close(self) -> None:
        """Answer the asks made so far, then close the connection; later asks go to the thread."""
        self._closed = True
        if self._task is not None:
            await asyncio.shield(self._task)
        await self._connections.close()


async def simple_query(conn: psycopg.AsyncConnection[Any], sql: bytes) -> None:
    """``sql`` (no parameters, no rows) run on ``conn`` through libpq, its answer awaited on the
    loop's reader; raises the server's error as psycopg would.

    28 µs of CPU against 64-74 µs through ``conn.execute`` (its cursor, lock and result
    bookkeeping), measured on this machine: the notifier sends one per commit when idle and
    one per round trip under load. ``conn`` must be the caller's alone (nothing else in flight).
    """
    pgconn = conn.pgconn
    loop = asyncio.get_running_loop()
    pgconn.send_query(sql)
    while pgconn.flush():  # a few bytes: written at once unless the socket is full
        await asyncio.sleep(0.001)
    pgconn.consume_input()
    if pgconn.is_busy():
        answered = loop.create_future()

        def readable() -> None:
            try:
                pgconn.consume_input()
            except psycopg.Error as exc:  # the server hung up
                if not answered.done():
                    answered.set_exception(exc)
                return
            if not pgconn.is_busy() and not answered.done():
                answered.set_result(None)

        loop.add_reader(pgconn.socket, readable)
        try:
            await answered
        finally:
            loop.remove_reader(pgconn.socket)
    error = None
    while (result := pgconn.get_result()) is not None:
        if result.status != ExecStatus.COMMAND_OK and result.status != ExecStatus.TUPLES_OK and error is None:
            error = psycopg.errors.error_from_result(result, encoding="utf-8")
    if error is not None:
        raise error
