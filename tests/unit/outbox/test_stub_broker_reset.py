"""The test stack's broker starts each test empty, even of a message a stopped worker still held.

Seen in loaded CI runs: a lease test's duplicate delivery, backing off for about a minute, was
held by its worker's delay queue when the test ended; flushing left it counted as unfinished, and
a later test's ``drain`` (a ``join`` on the queue) timed out waiting for it.
"""

from __future__ import annotations

from pathlib import Path

import dramatiq
import pytest
from support import in_process_stack, stub_broker, wait_for


def test_a_message_a_stopped_worker_held_does_not_outlive_its_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = stub_broker()
    with monkeypatch.context() as patch:
        stack = in_process_stack(tmp_path / "first", patch)
        embedded = next(stack)
        # A retry waiting out a long delay: its worker takes it from the delay queue and holds it.
        broker.enqueue(
            dramatiq.Message(
                queue_name="social", actor_name="social.run_job", args=(), kwargs={"job_id": "x"}, options={}
            ),
            delay=600_000,
        )
        embedded.start_worker()
        delayed = broker.queues["social.DQ"]  # type: ignore[attr-defined]
        wait_for(lambda: delayed.qsize() == 0, what="the worker to take the delayed message")
        stack.close()  # the test ends: its worker stops with the message still held
    with monkeypatch.context() as patch:
        stack = in_process_stack(tmp_path / "second", patch)
        next(stack)
        for name, queue in broker.queues.items():  # type: ignore[attr-defined]
            assert queue.unfinished_tasks == 0, f"{name} still counts a message of the last test"
        broker.join("social", timeout=1_000)
        stack.close()
