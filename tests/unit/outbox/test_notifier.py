"""The commit notifiers (a thread's, an event loop's): every ask is answered by a NOTIFY begun
after it; asks made meanwhile coalesce."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
import pytest

from imagestudio.db import AsyncConnections
from imagestudio.outbox.notifier import CommitNotifier, LoopNotifier


class SlowConnection:
    """Records when each notification began; each takes ``seconds`` (a round trip)."""

    def __init__(self, log: list[float], seconds: float, fail: list[bool]) -> None:
        self.log, self.seconds, self.fail, self.closed = log, seconds, fail, False

    def execute(self, statement: str) -> Any:
        if self.fail and self.fail.pop(0):
            raise psycopg.OperationalError("server closed the connection")
        self.log.append(time.monotonic())
        time.sleep(self.seconds)

    def close(self) -> None:
        self.closed = True


def notifier(
    seconds: float = 0.01, fail: list[bool] | None = None
) -> tuple[CommitNotifier, list[float], list[str]]:
    began: list[float] = []
    urls: list[str] = []
    failures = fail if fail is not None else []

    def connect(url: str) -> Any:
        urls.append(url)
        return SlowConnection(began, seconds, failures)

    return CommitNotifier("NOTIFY x", url=lambda: "postgresql://db", connect=connect), began, urls


def test_each_ask_is_answered_by_a_notification_begun_after_it_and_asks_coalesce() -> None:
    sender, began, urls = notifier(seconds=0.02)
    asked: list[float] = []
    lock = threading.Lock()

    def ask_many() -> None:
        for _ in range(25):
            with lock:
                asked.append(time.monotonic())
            sender.request()
            time.sleep(0.001)

    threads = [threading.Thread(target=ask_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sender.flush(5)
    assert all(any(b >= a for b in began) for a in asked)  # none left without a later send
    assert 1 <= len(began) < len(asked) / 2  # 100 asks over ~0.1 s, sends of 20 ms: coalesced
    assert sender.sent == len(began)
    assert urls == ["postgresql://db"]  # one connection, kept


def test_a_failed_send_is_retried_on_a_new_connection_and_still_answers_the_ask() -> None:
    sender, began, urls = notifier(fail=[True])
    sender.request()
    assert sender.flush(5)
    assert len(began) == 1 and len(urls) == 2


def test_flush_without_asks_returns_at_once_and_an_idle_notifier_sends_nothing() -> None:
    sender, began, _ = notifier()
    assert sender.flush(0)
    sender.request()
    assert sender.flush(5)
    time.sleep(0.05)
    assert len(began) == 1


class LoopConnections:
    """Stands in for ``AsyncConnections``: each statement is recorded when it begins and takes
    ``seconds`` (a round trip); ``fail`` makes the next sends raise."""

    def __init__(self, seconds: float = 0.01, fail: int = 0) -> None:
        self.seconds, self.fail = seconds, fail
        self.began: list[tuple[float, bytes]] = []
        self.closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        yield self

    async def execute(self, statement: bytes) -> None:
        if self.fail:
            self.fail -= 1
            raise psycopg.OperationalError("server closed the connection")
        self.began.append((time.monotonic(), statement))
        await asyncio.sleep(self.seconds)

    async def close(self) -> None:
        self.closed = True


class Fallback:
    """Stands in for the thread's ``CommitNotifier``: counts the asks handed to it."""

    def __init__(self) -> None:
        self.asks = 0

    def request(self) -> None:
        self.asks += 1


def loop_notifier(connections: LoopConnections) -> tuple[LoopNotifier, Fallback]:
    fallback = Fallback()
    sender = LoopNotifier(
        "NOTIFY x",
        cast(AsyncConnections, connections),
        fallback=cast(CommitNotifier, fallback),
        execute=lambda conn, sql: cast(LoopConnections, conn).execute(sql),
    )
    return sender, fallback


def test_each_ask_on_the_loop_is_answered_by_a_send_begun_after_it_and_asks_coalesce() -> None:
    async def scenario() -> tuple[list[float], LoopConnections, LoopNotifier, Fallback]:
        connections = LoopConnections(seconds=0.02)
        sender, fallback = loop_notifier(connections)
        asked: list[float] = []

        async def commits(n: int) -> None:  # 4 submissions at once, each committing 25 times
            for _ in range(n):
                await asyncio.sleep(0.001)  # the commit's round trip
                asked.append(time.monotonic())
                sender.request()

        await asyncio.gather(*(commits(25) for _ in range(4)))
        await sender.close()
        return asked, connections, sender, fallback

    asked, connections, sender, fallback = asyncio.run(scenario())
    began = [at for at, _ in connections.began]
    assert all(any(b >= a for b in began) for a in asked)  # none left without a later send
    assert 1 <= len(began) < len(asked) / 2  # 100 asks over ~0.1 s, sends of 20 ms: coalesced
    assert {statement for _, statement in connections.began} == {b"NOTIFY x"}
    assert sender.sent == len(began) and fallback.asks == 0
    assert connections.closed


def test_an_idle_loop_notifier_sends_nothing_and_one_ask_sends_once() -> None:
    async def scenario() -> LoopConnections:
        connections = LoopConnections()
        sender, _ = loop_notifier(connections)
        await asyncio.sleep(0.05)
        assert connections.began == []
        sender.request()
        await asyncio.sleep(0.05)
        return connections

    assert len(asyncio.run(scenario()).began) == 1


def test_a_failed_send_on_the_loop_hands_its_asks_to_the_thread_and_the_next_ask_tries_again() -> None:
    async def scenario() -> tuple[LoopConnections, LoopNotifier, Fallback]:
        connections = LoopConnections(fail=1)
        sender, fallback = loop_notifier(connections)
        sender.request()
        sender.request()  # while the first is in flight: coalesced into its answer
        await asyncio.sleep(0.05)
        assert fallback.asks == 1 and connections.began == []
        sender.request()
        await sender.close()
        return connections, sender, fallback

    connections, sender, fallback = asyncio.run(scenario())
    assert len(connections.began) == 1 and sender.sent == 1 and fallback.asks == 1


@pytest.mark.parametrize("in_flight", [False, True])
def test_closing_answers_the_asks_made_and_hands_later_ones_to_the_thread(in_flight: bool) -> None:
    async def scenario() -> tuple[LoopConnections, Fallback]:
        connections = LoopConnections(seconds=0.02)
        sender, fallback = loop_notifier(connections)
        sender.request()
        if in_flight:
            await asyncio.sleep(0.005)  # the first send has begun
            sender.request()  # asked during it: one more send, before close returns
        await sender.close()
        sender.request()  # after shutdown began: the thread answers it
        return connections, fallback

    connections, fallback = asyncio.run(scenario())
    assert len(connections.began) == (2 if in_flight else 1)
    assert fallback.asks == 1 and connections.closed
