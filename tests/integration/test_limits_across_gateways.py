"""Rate limits hold across gateway processes: the counters live in Redis (the ``limits`` library's
moving window), not in each process's memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from support import REDIS_URL, ROOT, free_port, make_image, reload_settings, wait_for
from unit.ratelimits.ratelimit_support import burst_at_the_window_edge_is_held_to_the_limit

from imagestudio.errors import RateLimited
from imagestudio.ratelimits.service import RateLimitState, _async_clients, rate_limit_service
from integration.conftest import Process, Services, Stack, create_key

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def test_two_gateways_share_one_tenant_rate_limit(stack: Stack) -> None:
    port = free_port()
    second = Process(["up", "--port", str(port)], stack.services.env, stack.tmp / "gateway-2.log")
    stack.processes.append(second)
    other_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{other_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, interval=0.2, what="the second gateway")
    key = create_key(stack.services.env, "two-gateways", tier="free")  # 10 submissions a minute
    headers = {"Authorization": f"Bearer {key}"}
    codes: list[int] = []
    for i in range(12):
        base = stack.base_url if i % 2 == 0 else other_url  # alternate between the two processes
        response = httpx.post(
            f"{base}{API}/social/optimize",
            headers=headers,
            files={"image": ("a.png", make_image(48, 48), "image/png")},
            data={"formats": "instagram.feed_square"},
            timeout=30,
        )
        codes.append(response.status_code)
        if response.status_code == 202:  # free allows 2 at once: cancel so only the rate counts
            httpx.post(f"{base}{API}/jobs/{response.json()['id']}/cancel", headers=headers, timeout=30)
    assert codes == [202] * 10 + [429, 429]


@pytest.fixture
def on_redis(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process's rate limits on the session's Redis key prefix; the settings a child needs too."""
    env = {
        "IMAGESTUDIO_RATE_LIMIT_STORAGE_URL": services.env["IMAGESTUDIO_RATE_LIMIT_STORAGE_URL"],
        "IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX": services.env["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    yield env
    reload_settings()


def test_a_burst_at_a_window_edge_cannot_exceed_the_limit_on_redis(on_redis: dict[str, str]) -> None:
    burst_at_the_window_edge_is_held_to_the_limit()


#: A fresh interpreter's first 16 concurrent hits (the client library not yet loaded).
FIRST_HITS = """
import sys, threading, uuid
from concurrent.futures import ThreadPoolExecutor
from imagestudio.ratelimits.service import RateLimitState, _async_clients, rate_limit_service
start, tenant = threading.Barrier(16), f"first-{uuid.uuid4()}"
def hit(_):
    start.wait()
    return rate_limit_service.hit(tenant_id=tenant, policy="submissions", limit=100).remaining
with ThreadPoolExecutor(16) as pool:
    print(min(pool.map(hit, range(16))))
"""


def test_a_gateways_first_concurrent_requests_all_count_on_redis(on_redis: dict[str, str]) -> None:
    # A new process's first requests build the Redis limiter at once: they raised "minimum
    # version of redis not found" (answered 500) while ``limits`` loaded the client library.
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", FIRST_HITS],
            env={**os.environ, **on_redis},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "84"  # all 16 counted


#: Run by each child process: LIMIT-sized attempts against one tenant's window, prints how many passed.
_CHILD = """
import sys
from imagestudio.errors import RateLimited
from imagestudio.ratelimits.service import RateLimitState, _async_clients, rate_limit_service
accepted = 0
for _ in range(int(sys.argv[2])):
    try:
        rate_limit_service.hit(tenant_id=sys.argv[1], policy="submissions", limit=int(sys.argv[3]))
        accepted += 1
    except RateLimited:
        pass
print(accepted)
"""


def _in_two_processes(
    script: str, on_redis: dict[str, str], tenant: str, attempts: int, limit: int
) -> list[int]:
    """``script`` run by two processes at once against one tenant's window; how many each accepted."""
    env = {**os.environ, **on_redis}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, tenant, str(attempts), str(limit)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in results]
    return [int(out) for out, _ in results]


def test_two_processes_share_one_limit_through_redis(on_redis: dict[str, str]) -> None:
    tenant, limit, attempts = f"two-{uuid.uuid4().hex}", 20, 15  # each alone stays under the limit
    accepted = _in_two_processes(_CHILD, on_redis, tenant, attempts, limit)
    assert sum(accepted) == limit, accepted  # per-process counters would accept 2 x 15
    # This process sees the same window, and the keys sit under this run's prefix only.
    with pytest.raises(RateLimited):
        rate_limit_service.hit(tenant_id=tenant, policy="submissions", limit=limit)
    prefix = on_redis["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"]
    client = redis.Redis.from_url(REDIS_URL)
    assert [k.decode() for k in client.scan_iter(f"*{tenant}*")] == [
        f"{prefix}:LIMITER/{tenant}/submissions/60s"
    ]


def hits(way: str, count: int, **kwargs: Any) -> list[RateLimitState | RateLimited]:
    """``count`` hits, each its state or its 429: in the caller's thread (``hit``) or, as the
    gateway counts, on an event loop through Redis's asyncio client (``hit_async``)."""
    if way == "thread":
        found: list[RateLimitState | RateLimited] = []
        for _ in range(count):
            try:
                found.append(rate_limit_service.hit(**kwargs))
            except RateLimited as refused:
                found.append(refused)
        return found

    async def on_the_loop() -> list[RateLimitState | RateLimited]:
        found: list[RateLimitState | RateLimited] = []
        for _ in range(count):
            try:
                found.append(await rate_limit_service.hit_async(**kwargs))
            except RateLimited as refused:
                found.append(refused)
        for client in _async_clients.get(asyncio.get_running_loop(), {}).values():
            await client.aclose()
        return found

    return asyncio.run(on_the_loop())


WAYS = ["thread", "event-loop"]


@pytest.mark.parametrize("way", WAYS)
def test_an_unreachable_redis_lets_submissions_through(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    monkeypatch.setenv("IMAGESTUDIO_RATE_LIMIT_STORAGE_URL", f"redis://127.0.0.1:{free_port()}/0")
    reload_settings()
    try:
        states = hits(way, 3, tenant_id="no-redis", policy="submissions", limit=1)
    finally:
        reload_settings()
    # fail open: nothing counted, nothing refused
    assert [s.remaining for s in states if isinstance(s, RateLimitState)] == [1, 1, 1]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("missing", ["none", "acquire", "window"])
def test_each_hit_on_redis_counts_once_even_when_redis_lacks_a_script(
    on_redis: dict[str, str], monkeypatch: pytest.MonkeyPatch, missing: str, way: str
) -> None:
    # A hit sends both of limits' moving-window scripts by SHA in one pipeline; a script the
    # server does not hold (a restarted Redis) is left to the library, which loads it, and the
    # request must still count exactly once.
    from imagestudio.config import get_settings
    from imagestudio.ratelimits.service import _limiter

    settings = get_settings()
    storage = _limiter(settings.rate_limit_storage_url or "", settings.rate_limit_key_prefix).storage
    scripts = {"acquire": storage.lua_acquire_moving_window, "window": storage.lua_moving_window}
    if missing in scripts:
        monkeypatch.setattr(scripts[missing], "sha", "0" * 40)  # a SHA no server holds: NOSCRIPT
    tenant, limit = f"once-{uuid.uuid4().hex}", 3
    *states, refused = hits(way, limit + 1, tenant_id=tenant, policy="submissions", limit=limit)
    assert [s.remaining for s in states if isinstance(s, RateLimitState)] == [2, 1, 0]
    assert all(isinstance(s, RateLimitState) and 1 <= s.reset_seconds <= 60 for s in states)
    assert isinstance(refused, RateLimited)
    assert "r=0" in refused.headers["RateLimit"]
    # Counted by the server, once each: the window holds exactly the limit.
    prefix = on_redis["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"]
    assert redis.Redis.from_url(REDIS_URL).llen(f"{prefix}:LIMITER/{tenant}/submissions/60s") == limit


def test_failed_authentications_are_counted_per_address_on_redis(
    on_redis: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_MAX_AUTH_FAILURES_PER_MINUTE", "2")
    reload_settings()
    address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"  # one per run
    rate_limit_service.refuse_failed_auth(address=address)  # nothing counted yet
    rate_limit_service.count_failed_auth(address=address)
    rate_limit_service.count_failed_auth(address=address)
    with pytest.raises(RateLimited) as over:
        rate_limit_service.refuse_failed_auth(address=address)
    assert over.value.headers["RateLimit-Policy"] == '"auth-failures";q=2;w=60'
    assert 1 <= int(over.value.headers["Retry-After"]) <= 60
    # Counted in Redis, under this deployment's prefix: every gateway replica sees the same count.
    client = redis.Redis.from_url(on_redis["IMAGESTUDIO_RATE_LIMIT_STORAGE_URL"])
    prefix = on_redis["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"]
    assert any(address in k.decode() for k in client.scan_iter(f"{prefix}*auth-failures*"))
    rate_limit_service.refuse_failed_auth(address=address + "-other")  # another address: free


#: Run by each child process: ``hit_async`` (the gateway's way, with leases) until the window
#: refuses or ATTEMPTS are spent; prints how many passed.
_LEASING_CHILD = """
import asyncio, sys
from imagestudio.errors import RateLimited
from imagestudio.ratelimits.service import rate_limit_service
async def main():
    accepted = 0
    for _ in range(int(sys.argv[2])):
        try:
            await rate_limit_service.hit_async(tenant_id=sys.argv[1], policy="submissions", limit=int(sys.argv[3]))
            accepted += 1
        except RateLimited:
            pass
    print(accepted)
asyncio.run(main())
"""


def test_leasing_processes_never_exceed_the_shared_limit(on_redis: dict[str, str]) -> None:
    # A limit of 1,000 leases 10 requests at a time (1 %); two processes each try 700: Redis counts
    # every leased request when the lease is taken, so together they never pass the limit, and at
    # most one lease per process is left unspent (under-admitted).
    tenant, limit, attempts = f"lease-{uuid.uuid4().hex}", 1000, 700
    accepted = sum(_in_two_processes(_LEASING_CHILD, on_redis, tenant, attempts, limit))
    assert limit - 2 * 10 <= accepted <= limit, accepted


def test_a_lease_counts_down_in_memory_and_gives_back_what_it_did_not_spend(
    on_redis: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.ratelimits import service

    monkeypatch.setattr(service, "LEASE_SECONDS", 0.3)
    tenant, limit = f"give-{uuid.uuid4().hex}", 1000  # leases of 10
    prefix = on_redis["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"]
    window = redis.Redis.from_url(REDIS_URL)
    key = f"{prefix}:LIMITER/{tenant}/submissions/60s"

    async def run() -> tuple[list[int], int, list[int], int]:
        first = [
            (
                await rate_limit_service.hit_async(tenant_id=tenant, policy="submissions", limit=limit)
            ).remaining
            for _ in range(3)
        ]
        taken = window.llen(key)  # one lease, in one round trip
        await asyncio.sleep(0.4)  # the lease lapses with 7 unspent
        second = [
            (
                await rate_limit_service.hit_async(tenant_id=tenant, policy="submissions", limit=limit)
            ).remaining
        ]
        after = window.llen(key)  # the 7 given back, a new lease of 10 taken
        for client in _async_clients.get(asyncio.get_running_loop(), {}).values():
            await client.aclose()
        return first, taken, second, after

    first, taken, second, after = asyncio.run(run())
    assert taken == 10
    assert first == [999, 998, 997]  # the window's room, less what this process spent
    assert after == 3 + 10
    assert second == [996]


def test_concurrent_requests_of_one_loop_share_one_lease(on_redis: dict[str, str]) -> None:
    # 50 requests at once on one event loop: one takes each lease while the others wait and spend
    # from it, so the window holds exactly 50 entries (5 leases of 10), not a lease per request.
    tenant, limit = f"gather-{uuid.uuid4().hex}", 1000
    prefix = on_redis["IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX"]

    async def run() -> list[int]:
        states = await asyncio.gather(
            *(
                rate_limit_service.hit_async(tenant_id=tenant, policy="submissions", limit=limit)
                for _ in range(50)
            )
        )
        for client in _async_clients.get(asyncio.get_running_loop(), {}).values():
            await client.aclose()
        return sorted(state.remaining for state in states)

    remaining = asyncio.run(run())
    assert remaining == list(range(950, 1000))
    assert redis.Redis.from_url(REDIS_URL).llen(f"{prefix}:LIMITER/{tenant}/submissions/60s") == 50
