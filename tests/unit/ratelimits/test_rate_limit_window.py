"""Submission rates on the limits library's moving window, in memory (the embedded mode)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from ratelimit_support import burst_at_the_window_edge_is_held_to_the_limit
from support import reload_settings

from imagestudio.errors import RateLimited
from imagestudio.ratelimits.service import rate_limit_service


@pytest.fixture(autouse=True)
def memory_storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("IMAGESTUDIO_RATE_LIMIT_STORAGE_URL", raising=False)
    reload_settings()
    yield
    reload_settings()


def test_a_burst_at_a_window_edge_cannot_exceed_the_limit() -> None:
    burst_at_the_window_edge_is_held_to_the_limit()


def test_each_accepted_request_counts_down_and_the_next_is_a_429_naming_the_policy() -> None:
    tenant = f"count-{uuid.uuid4().hex}"
    states = [rate_limit_service.hit(tenant_id=tenant, policy="submissions", limit=3) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    assert states[0].headers() == {
        "RateLimit-Policy": '"submissions";q=3;w=60',
        "RateLimit": f'"submissions";r=2;t={states[0].reset_seconds}',
    }
    assert 58 <= states[0].reset_seconds <= 60
    with pytest.raises(RateLimited) as refused:
        rate_limit_service.hit(tenant_id=tenant, policy="submissions", limit=3)
    assert refused.value.status == 429
    assert 58 <= int(refused.value.headers["Retry-After"]) <= 60
    assert refused.value.extra["violated-policies"] == ["submissions"]
    # Another tenant has its own window.
    assert (
        rate_limit_service.hit(tenant_id=f"other-{uuid.uuid4().hex}", policy="submissions", limit=3).remaining
        == 2
    )
