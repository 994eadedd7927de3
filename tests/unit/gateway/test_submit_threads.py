"""Submissions' database work runs in at most ``gateway_submit_threads`` threads at once; the rest
wait on the event loop (thirty-two threads contending for the GIL served a third fewer jobs)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from support import Embedded, make_image

from gateway.admission import in_submit_thread
from imagestudio.config import get_settings


def test_no_more_threads_than_the_limiter_lends() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * 2

    async def main() -> list[int]:
        request: Any = SimpleNamespace(
            app=SimpleNamespace(state=SimpleNamespace(submit_limiter=anyio.CapacityLimiter(3)))
        )
        results: list[int] = [0] * 12

        async def one(i: int) -> None:
            results[i] = await in_submit_thread(request, work, i)

        async with anyio.create_task_group() as group:
            for i in range(12):
                group.start_soon(one, i)
        return results

    assert anyio.run(main) == [i * 2 for i in range(12)]
    assert most == 3


def test_the_gateway_lends_the_setting_and_submits_through_it(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = embedded.client.app.state.submit_limiter  # type: ignore[attr-defined]
    assert limiter.total_tokens == get_settings().gateway_submit_threads == 8
    seen: list[str] = []
    original = anyio.to_thread.run_sync

    async def spy(func: Any, *args: Any, limiter: Any = None, **kwargs: Any) -> Any:
        seen.append("submit-limiter" if limiter is embedded.client.app.state.submit_limiter else "default")  # type: ignore[attr-defined]
        return await original(func, *args, limiter=limiter, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    key = embedded.new_key()
    response = embedded.client.post(
        "/api/image-studio/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        data={"formats": "instagram.feed_square"},
        files={"image": ("p.png", make_image(64, 64), "image/png")},
    )
    assert response.status_code == 202, response.text
    assert seen.count("submit-limiter") == 1  # the submission (the rate limit counts on the event loop)


def test_a_batch_runs_in_a_thread_lent_to_submissions(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = embedded.client.app.state.submit_limiter  # type: ignore[attr-defined]
    seen: list[tuple[str, str]] = []
    original = anyio.to_thread.run_sync

    async def spy(func: Any, *args: Any, limiter: Any = None, **kwargs: Any) -> Any:
        lent = limiter is embedded.client.app.state.submit_limiter  # type: ignore[attr-defined]
        seen.append((getattr(func, "__name__", "?"), "submit-limiter" if lent else "default"))
        return await original(func, *args, limiter=limiter, **kwargs)

    key = embedded.new_key()
    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    response = embedded.client.post(
        "/api/image-studio/jobs/batch",
        headers={"Authorization": f"Bearer {key}"},
        json={"jobs": [{"studio": "create", "params": {"prompt": ""}}] * 3},
    )
    assert response.status_code == 200, response.text
    assert [e["status"] for e in response.json()["jobs"]] == [422] * 3
    assert limiter.total_tokens == get_settings().gateway_submit_threads
    # Drafting and submitting, in one lent thread (the key's first lookup is the pool's).
    assert [use for use in seen if use[1] == "submit-limiter"] == [("_submit", "submit-limiter")], seen
    assert len(seen) <= 2, seen
