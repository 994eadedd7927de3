"""Short-lived, bounded per-process caches for what every request looks up (API keys, tenant limits).

Entries live ``IMAGESTUDIO_AUTH_CACHE_SECONDS`` (cachetools' TTLCache): a change made by another
process (a revoked key, new limits) is seen within that time; the process that makes the change
clears its own cache at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

from imagestudio.config import get_settings

V = TypeVar("V")

#: Every cache made, so tests that switch settings or databases can empty them all.
_ALL: weakref.WeakSet[RequestCache[Any]] = weakref.WeakSet()


class RequestCache(Generic[V]):
    """A TTL cache of at most ``maxsize`` entries, shared by the threads of one process."""

    def __init__(self, *, maxsize: int = 10_000) -> None:
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._ttl = -1.0
        self._cache: TTLCache[Hashable, V] = TTLCache(maxsize=1, ttl=1)
        #: Bumped by every clear, so a value loaded before a clear is not stored after it.
        self._generation = 0
        _ALL.add(self)

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value of ``key``, or ``load()`` (not cached when it raises, nor when the TTL is 0)."""
        ttl = get_settings().auth_cache_seconds
        with self._lock:
            if ttl != self._ttl:  # the setting changed (tests): start over with the new lifetime
                self._ttl = ttl
                self._cache = TTLCache(maxsize=self._maxsize, ttl=ttl or 1)
            if ttl:
                try:
                    return self._cache[key]
                except KeyError:
                    pass
            generation = self._generation
        value = load()  # outside the lock: a slow query must not hold up hits on other keys
        if ttl:
            with self._lock:
                if generation == self._generation:
                    self._cache[key] = value
        return value

    def peek(self, key: Hashable) -> V | None:
        """The cached value of ``key`` without loading it (None on a miss): for callers on an event loop."""
        with self._lock:
            if not self._ttl or self._ttl != get_settings().auth_cache_seconds:
                return None
            return self._cache.get(key)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()


def clear_request_caches() -> None:
    """Empty every request cache of this process (tests that switch settings or databases)."""
    for cache in list(_ALL):
        cache.clear()
