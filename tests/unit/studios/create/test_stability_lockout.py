"""Stability's lockout (over 150 requests in 10 s: 60 s of 429s without Retry-After) opens the key's
circuit for 60 s: no retry inside it, and no worker calls Stability until it ends."""

from __future__ import annotations

from typing import Any

from create_support import CreateStack, batch_spec

from imagestudio.providers.execution import ProviderExecutor
from imagestudio.providers.health import provider_health


def _run() -> tuple[list[float], Any]:
    sleeps: list[float] = []
    executor = ProviderExecutor(sleep=sleeps.append)
    try:
        report = executor.run_batch(
            batch_spec("stability"), variations=[0], on_images=lambda *_: None, checkpoint=lambda _: None
        )
    finally:
        executor.close()
    return sleeps, report


def test_a_lockout_opens_the_circuit_for_its_60_s_without_retries(create_stack: CreateStack) -> None:
    stability = create_stack.sims["stability"]
    stability.rate_limit = 0  # the next request is one too many: locked out

    sleeps, report = _run()

    assert stability.calls.count("/generate/") == 1 and sleeps == []  # no retry inside the lockout
    assert "locked out for 60 s" in report.fallbacks[0]["reason"]
    assert report.retry_after == 60
    health = provider_health()["stability"][0]
    assert health["state"] == "open"
    _, again = _run()  # another job meanwhile: refused by the circuit, Stability not called
    assert stability.calls.count("/generate/") == 1
    assert "circuit is open" in again.fallbacks[0]["reason"]
