"""Per-tenant request limits (the ``limits`` library, moving window).

Counters live in ``IMAGESTUDIO_RATE_LIMIT_STORAGE_URL``: Redis in the distributed mode, so the
limit holds across every gateway replica; process memory in the embedded mode (one process).
A moving window counts the requests of the last ``window_seconds`` at every instant, so unlike a
fixed window a burst at the end of one window and another at the start of the next cannot add up
to twice the limit. On Redis a request is counted and its window read (for the RateLimit fields)
with ``limits``' own two moving-window scripts sent in one pipeline: one round trip, not two;
the gateway sends them through Redis's asyncio client (``hit_async``), so a request's count costs
no worker thread. Idempotency keys have their own room, ``imagestudio.idempotency``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError

from imagestudio.config import get_settings
from imagestudio.errors import RateLimited
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: What each policy counts, for the 429's detail: job submissions, and every other write
#: (POST, PUT, PATCH, DELETE) a tenant sends; each has the tenant's ``requests_per_minute``.
POLICY_NOUNS = {
    "submissions": "job submissions",
    "writes": "write requests",
    "auth-failures": "failed authentications from your address",
    "redeliveries": "webhook redeliveries",
}
#: The policy counting presented API keys that were refused, per client address.
AUTH_FAILURES_POLICY = "auth-failures"
#: Seconds to wait for the rate-limit store (Redis) to connect or answer.
STORAGE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class RateLimitState:
    policy: str
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int = 60

    def headers(self) -> dict[str, str]:
        """IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{self.policy}";r={max(self.remaining, 0)};t={self.reset_seconds}',
        }


class _Window(RateLimitItemPerSecond):
    """``limit`` requests per ``window_seconds``, keyed without the limit (``limits`` puts it in the
    key), so a tenant's count carries over when its limit changes (new tier, set-limits)."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        parts = (k.decode() if isinstance(k, bytes) else str(k) for k in identifiers)
        return "/".join([self.namespace, *parts, f"{self.multiples}s"])


_limiters: dict[tuple[str, str], MovingWindowRateLimiter] = {}
_limiters_lock = threading.Lock()


def _limiter(storage_url: str, key_prefix: str) -> MovingWindowRateLimiter:
    """One limiter (and Redis connection pool) per storage, built once.

    Under a lock: ``limits`` resolves its Redis dependency lazily, and threads building a storage
    at once (a gateway's first concurrent requests) saw it as missing, a 500.
    """
    limiter = _limiters.get((storage_url, key_prefix))
    if limiter is None:
        with _limiters_lock:
            limiter = _limiters.get((storage_url, key_prefix))
            if limiter is None:
                limiter = _build_limiter(storage_url, key_prefix)
                try:  # the first command also loads the client library, still under the lock
                    limiter.storage.check()
                except Exception as exc:  # storage down: hit() fails open and logs it
                    log.warning("ratelimit.storage_check_failed", error=repr(exc))
                _limiters[(storage_url, key_prefix)] = limiter
    return limiter


def _build_limiter(storage_url: str, key_prefix: str) -> MovingWindowRateLimiter:
    if storage_url.startswith(("redis://", "rediss://", "redis+unix://")):
        storage = storage_from_string(
            storage_url,
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    else:
        storage = storage_from_string(storage_url)
    return MovingWindowRateLimiter(storage)


def _send_scripts(
    pipe: Any, storage: RedisStorage, item: RateLimitItem, *identifiers: str
) -> tuple[int, float]:
    """Queue ``limits``' two moving-window scripts on ``pipe`` by SHA (hit, then read); (expiry, now)."""
    key = storage.prefixed_key(item.key_for(*identifiers))
    expiry, now = item.get_expiry(), time.time()
    pipe.evalsha(storage.lua_acquire_moving_window.sha, 1, key, now, item.amount, expiry, 1)
    pipe.evalsha(storage.lua_moving_window.sha, 1, key, now - expiry, item.amount)
    return expiry, now


@contextmanager
def _storage_errors(storage: RedisStorage) -> Iterator[None]:
    """Redis' own errors as the library's ``StorageError``, the one error the limiter's callers handle."""
    try:
        yield
    except storage.base_exceptions as exc:
        raise StorageError(exc) from exc


def _replies(
    item: RateLimitItem, replies: list[Any], expiry: int, now: float
) -> tuple[bool, WindowStats | None] | None:
    """The pipeline's answer: None when the hit was not run (Redis lacks its script); the window
    None when only the read's script was missing (the hit counted: the caller reads it apart)."""
    acquired, window = replies
    if isinstance(acquired, NoScriptError):
        return None
    for reply in (acquired, window):
        if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
            raise StorageError(reply)
    if isinstance(window, NoScriptError):
        return bool(acquired), None
    start, count = (float(window[0]), int(window[1])) if window else (now, 0)
    return bool(acquired), WindowStats(start + expiry, item.amount - count)


def _hit_redis(
    limiter: MovingWindowRateLimiter, storage: RedisStorage, item: RateLimitItem, *identifiers: str
) -> tuple[bool, WindowStats] | None:
    """``hit`` then ``get_window_stats`` of a moving window, in one Redis round trip.

    The same two Lua scripts ``limits`` registers for them, with the same keys and arguments, sent
    by SHA in one pipeline. A script Redis does not hold yet (a new, restarted or flushed server) is
    left to the library's own call, which loads it: None when the hit itself was not run.
    """
    pipe = cast("Redis", storage.get_connection()).pipeline(transaction=False)
    expiry, now = _send_scripts(pipe, storage, item, *identifiers)
    with _storage_errors(storage):
        replies = pipe.execute(raise_on_error=False)
    found = _replies(item, replies, expiry, now)
    if found is None:
        return None
    allowed, stats = found
    return allowed, stats if stats is not None else limiter.get_window_stats(item, *identifiers)


#: Per event loop, per storage URL: an asyncio Redis client (its connections belong to the loop
#: that opened them; a test client's loop comes and goes).
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncRedis]] = (
    weakref.WeakKeyDictionary()
)


def _async_client(storage_url: str) -> AsyncRedis:
    loop = asyncio.get_running_loop()
    clients = _async_clients.get(loop)  # ``setdefault`` would build a weak reference per request
    if clients is None:
        clients = _async_clients.setdefault(loop, {})
    client = clients.get(storage_url)
    if client is None:
        client = AsyncRedis.from_url(
            storage_url,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
        clients[storage_url] = client
    return client


async def _hit_redis_async(
    client: AsyncRedis,
    limiter: MovingWindowRateLimiter,
    storage: RedisStorage,
    item: RateLimitItem,
    *identifiers: str,
) -> tuple[bool, WindowStats] | None:
    """``_hit_redis`` on the event loop: the same two scripts by SHA in one pipeline, awaited."""
    pipe = client.pipeline(transaction=False)
    expiry, now = _send_scripts(pipe, storage, item, *identifiers)
    with _storage_errors(storage):
        replies = await pipe.execute(raise_on_error=False)
    found = _replies(item, replies, expiry, now)
    if found is None:
        return None
    allowed, stats = found
    if stats is None:  # counted already: only the read is left to the library (blocking)
        stats = await anyio.to_thread.run_sync(limiter.get_window_stats, item, *identifiers)
    return allowed, stats


async def _hit_async(
    storage_url: str, limiter: MovingWindowRateLimiter, item: RateLimitItem, *identifiers: str
) -> tuple[bool, WindowStats]:
    """``_hit`` without a worker thread: Redis through its asyncio client, memory inline (no I/O)."""
    if not isinstance(limiter.storage, RedisStorage):
        return _hit(limiter, item, *identifiers)
    if storage_url.startswith(("redis://", "rediss://")):
        client = _async_client(storage_url)
        size = lease_size(item.amount)
        if size > 1:
            window_key = limiter.storage.prefixed_key(item.key_for(*identifiers))
            lease_key = (storage_url, window_key, str(item.amount))
            found = await _leased_hit(client, limiter.storage, item, size, lease_key, *identifiers)
            if found is not None:
                return found
        found = await _hit_redis_async(client, limiter, limiter.storage, item, *identifiers)
        if found is not None:
            return found
    return await anyio.to_thread.run_sync(_hit, limiter, item, *identifiers)


#: Seconds a lease's requests may be spent in; then its unspent ones are given back to the window.
LEASE_SECONDS = 1.0
#: A lease is at most this share of the limit (the bound a lease costs: docs/credits-and-limits.md).
LEASE_SHARE = 100

#: Gives ``count`` leased entries stamped ``ARGV[1]`` back to a moving window (``limits`` stores
#: each request as its timestamp, pushed as a Lua number: the same number removes it).
_GIVE_BACK = """
return redis.call('lrem', KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[1]))
"""


def lease_size(limit: int) -> int:
    """Requests taken from Redis at once for a window of ``limit`` (1 = no lease)."""
    return max(1, min(get_settings().rate_limit_lease, limit // LEASE_SHARE))


@dataclass
class _Lease:
    """Requests this process took from a tenant's window in one round trip and spends in memory."""

    key: str
    stamp: float  # the timestamp the entries were pushed with
    tokens: int  # taken and not yet spent
    until: float  # monotonic: spend by then, or give back
    remaining: int  # the window's room right after the lease was taken
    reset_time: float


#: Per event loop, per (storage, window key, limit): the current lease (no await between reading
#: and spending one) and the lock one request holds while it takes the next, so a loop never holds
#: two leases of one window at once.
_leases: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], _Lease]] = (
    weakref.WeakKeyDictionary()
)
_lease_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _spend(lease: _Lease | None) -> tuple[bool, WindowStats] | None:
    """One request from ``lease`` while it is unspent and not lapsed."""
    if lease is None or lease.tokens <= 0 or time.monotonic() >= lease.until:
        return None
    lease.tokens -= 1
    return True, WindowStats(lease.reset_time, lease.remaining + lease.tokens)


async def _leased_hit(
    client: AsyncRedis,
    storage: RedisStorage,
    item: RateLimitItem,
    size: int,
    lease_key: tuple[str, ...],
    *identifiers: str,
) -> tuple[bool, WindowStats] | None:
    """One request from this loop's lease, taking a new lease of ``size`` when it ran out.

    None when no lease of ``size`` fits the window (near the limit): the caller counts the request
    alone, exactly. A lease past ``LEASE_SECONDS`` gives its unspent entries back in the same
    round trip that takes the next one. One request at a time takes a lease (the others wait for
    it and spend from it), so the loop holds at most one unspent lease of a window.
    """
    loop = asyncio.get_running_loop()
    leases = _leases.get(loop)  # ``setdefault`` would build a weak reference per request
    if leases is None:
        leases = _leases.setdefault(loop, {})
    if (spent := _spend(leases.get(lease_key))) is not None:
        return spent
    lock = _lease_locks.setdefault(loop, {}).setdefault(lease_key, asyncio.Lock())
    async with lock:
        lease = leases.get(lease_key)
        if (spent := _spend(lease)) is not None:  # taken by the request that held the lock
            return spent
        key = storage.prefixed_key(item.key_for(*identifiers))
        expiry, now, sent = item.get_expiry(), time.time(), time.monotonic()
        pipe = client.pipeline(transaction=False)
        if lease is not None and lease.tokens > 0:
            pipe.eval(_GIVE_BACK, 1, lease.key, lease.stamp, lease.tokens)
        pipe.evalsha(storage.lua_acquire_moving_window.sha, 1, key, now, item.amount, expiry, size)
        pipe.evalsha(storage.lua_moving_window.sha, 1, key, now - expiry, item.amount)
        leases.pop(lease_key, None)  # given back (a failed give-back only under-admits)
        with _storage_errors(storage):
            replies = await pipe.execute(raise_on_error=False)
        found = _replies(item, replies[-2:], expiry, now)
        if found is None or not found[0] or found[1] is None:
            return None  # no room for a lease (or a script to load): the request is counted alone
        stats = found[1]
        leases[lease_key] = _Lease(
            key, now, size - 1, sent + LEASE_SECONDS, stats.remaining, stats.reset_time
        )
        return True, WindowStats(stats.reset_time, stats.remaining + size - 1)


def _hit(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, *identifiers: str
) -> tuple[bool, WindowStats]:
    """Count one request in a moving window; whether it fits, and the window after it."""
    if isinstance(limiter.storage, RedisStorage):
        found = _hit_redis(limiter, limiter.storage, item, *identifiers)
        if found is not None:
            return found
    allowed = limiter.hit(item, *identifiers)
    # reset_time: when the oldest request in the window leaves it, so one more fits.
    return allowed, limiter.get_window_stats(item, *identifiers)


def reset_rate_limiter() -> None:
    """Forget the limiters built so far (tests that switch settings); memory counters start over."""
    with _limiters_lock:
        _limiters.clear()
        _async_clients.clear()
        _leases.clear()
        _lease_locks.clear()


class RateLimitService:
    def hit(self, *, tenant_id: str, policy: str, limit: int, window_seconds: int = 60) -> RateLimitState:
        """Count one request; raises 429 (with Retry-After and RateLimit fields) over the limit."""
        _, limiter, item = self._window(limit, window_seconds)
        try:
            allowed, stats = _hit(limiter, item, tenant_id, policy)
        except StorageError as exc:
            return self._open(exc, policy, limit, window_seconds)
        return self._decide(allowed, stats, policy, limit, window_seconds)

    async def hit_async(
        self, *, tenant_id: str, policy: str, limit: int, window_seconds: int = 60
    ) -> RateLimitState:
        """``hit`` on the event loop: no worker thread (a gateway's every write counts here)."""
        url, limiter, item = self._window(limit, window_seconds)
        try:
            allowed, stats = await _hit_async(url, limiter, item, tenant_id, policy)
        except StorageError as exc:
            return self._open(exc, policy, limit, window_seconds)
        return self._decide(allowed, stats, policy, limit, window_seconds)

    def refuse_failed_auth(self, *, address: str) -> None:
        """429 when ``address`` has spent its failed authentications of the last minute (counts nothing).

        Checked before a presented key is looked up, so an address guessing keys gets no answer
        about them, right or wrong, until its window frees up.
        """
        limit = get_settings().max_auth_failures_per_minute
        if not limit:
            return
        _, limiter, item = self._window(limit, 60)
        try:
            stats = limiter.get_window_stats(item, address, AUTH_FAILURES_POLICY)
        except StorageError as exc:
            self._open(exc, AUTH_FAILURES_POLICY, limit, 60)
            return
        self._decide(stats.remaining > 0, stats, AUTH_FAILURES_POLICY, limit, 60)

    def count_failed_auth(self, *, address: str) -> None:
        """Count one refused key from ``address``; 429 when it is one more than the minute allows."""
        limit = get_settings().max_auth_failures_per_minute
        if limit:
            self.hit(tenant_id=address, policy=AUTH_FAILURES_POLICY, limit=limit)

    def _window(self, limit: int, window_seconds: int) -> tuple[str, MovingWindowRateLimiter, RateLimitItem]:
        """The storage URL, its limiter and the window of ``limit`` requests."""
        settings = get_settings()
        url = settings.rate_limit_storage_url or "memory://"
        return url, _limiter(url, settings.rate_limit_key_prefix), _Window(limit, window_seconds)

    def _open(self, exc: StorageError, policy: str, limit: int, window_seconds: int) -> RateLimitState:
        # Fail open: an unreachable Redis must not turn every submission into a 500; credits,
        # tiers and the concurrency limit still hold, and the outage is logged per request.
        log.warning("ratelimit.storage_unavailable", error=str(exc.storage_error), policy=policy)
        return RateLimitState(policy, limit, limit, window_seconds, window_seconds)

    def _decide(
        self, allowed: bool, stats: WindowStats, policy: str, limit: int, window_seconds: int
    ) -> RateLimitState:
        state = RateLimitState(
            policy=policy,
            limit=limit,
            remaining=stats.remaining,
            reset_seconds=max(1, math.ceil(stats.reset_time - time.time())),
            window_seconds=window_seconds,
        )
        if not allowed:
            raise RateLimited(
                f"More than {limit} {POLICY_NOUNS.get(policy, policy)} in {window_seconds} s; "
                f"retry in {state.reset_seconds} s.",
                headers={"Retry-After": str(state.reset_seconds), **state.headers()},
                extra={"limit": limit, "window_seconds": window_seconds, "violated-policies": [policy]},
            )
        return state


rate_limit_service = RateLimitService()
