"""The window-edge burst check, run on memory by the unit tests and on Redis by the integration tests."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from support import wait_for

from imagestudio.errors import RateLimited
from imagestudio.ratelimits.service import rate_limit_service

LIMIT = 5
#: A short window keeps the test quick.
WINDOW_SECONDS = 2


def _fixed_windows() -> dict[str, Callable[[], bool]]:
    """Two fixed windows fed the same requests, to show what the moving window refuses.

    ``clock``: aligned on the clock (the hand-written counter table this replaced);
    ``first-hit``: starting at the first request (the ``limits`` library's fixed window).
    """
    counts: Counter[int] = Counter()

    def clock() -> bool:
        window = int(time.time() // WINDOW_SECONDS)
        counts[window] += 1
        return counts[window] <= LIMIT

    limiter, item = FixedWindowRateLimiter(MemoryStorage()), RateLimitItemPerSecond(LIMIT, WINDOW_SECONDS)
    return {"clock": clock, "first-hit": lambda: limiter.hit(item, "control")}


def burst_at_the_window_edge_is_held_to_the_limit() -> None:
    """One request opens a window; LIMIT-1 more come just before its edge and LIMIT just after it.

    A fixed window (either kind) accepts all 2*LIMIT-1 of the last two bursts, within half a
    second; the moving window still counts the first of them and accepts only one more.
    """
    tenant = f"edge-{uuid.uuid4().hex}"
    fixed = _fixed_windows()

    def hit() -> bool:
        try:
            rate_limit_service.hit(
                tenant_id=tenant, policy="submissions", limit=LIMIT, window_seconds=WINDOW_SECONDS
            )
            return True
        except RateLimited:
            return False

    def burst(n: int) -> tuple[list[bool], dict[str, list[bool]]]:
        return [hit() for _ in range(n)], {name: [f() for _ in range(n)] for name, f in fixed.items()}

    # Open the window right at the start of a clock-aligned one, so both fixed kinds share an edge.
    wait_for(lambda: time.time() % WINDOW_SECONDS < 0.2, timeout=5, interval=0.005, what="a window start")
    start = time.time()
    edge = math.floor(start / WINDOW_SECONDS + 1) * WINDOW_SECONDS  # clock edge; start + W is just after
    assert burst(1) == ([True], {"clock": [True], "first-hit": [True]})
    opened = time.time()  # the first-hit window opened before this (the hit may lag ``start`` when busy)

    wait_for(lambda: time.time() >= edge - 0.6, timeout=5, interval=0.005, what="just before the edge")
    late, late_fixed = burst(LIMIT - 1)
    assert time.time() < edge, "the late burst must end before the edge"
    assert late == [True] * (LIMIT - 1) and all(v == [True] * (LIMIT - 1) for v in late_fixed.values())

    wait_for(
        lambda: time.time() >= opened + WINDOW_SECONDS + 0.05, timeout=5, interval=0.005, what="the edge"
    )
    after, after_fixed = burst(LIMIT)
    # Both fixed windows restarted: a second full burst, 2*LIMIT-1 accepted within half a second.
    assert after_fixed == {"clock": [True] * LIMIT, "first-hit": [True] * LIMIT}
    # The moving window dropped only the opening request: one more fits, LIMIT in any window.
    assert after == [True] + [False] * (LIMIT - 1)

    with pytest.raises(RateLimited) as refused:
        rate_limit_service.hit(
            tenant_id=tenant, policy="submissions", limit=LIMIT, window_seconds=WINDOW_SECONDS
        )
    retry_after = int(refused.value.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS  # when the late burst's first request leaves the window
    assert refused.value.headers["RateLimit"] == f'"submissions";r=0;t={retry_after}'
    assert refused.value.headers["RateLimit-Policy"] == f'"submissions";q={LIMIT};w={WINDOW_SECONDS}'

    # Once the late burst is a full window old, requests are accepted again.
    wait_for(hit, timeout=WINDOW_SECONDS + 3, interval=0.05, what="the window to move past the bursts")
