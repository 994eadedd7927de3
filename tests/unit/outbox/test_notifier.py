"""The commit notifier: every ask is answered by a NOTIFY begun after it; asks made meanwhile coalesce."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from imagestudio.outbox.notifier import CommitNotifier


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
