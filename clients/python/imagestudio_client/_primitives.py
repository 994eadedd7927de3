"""What the two clients do differently: a lock held across waits, a pause, and a bounded parallel map.

``_async.py`` is the source; ``_sync.py`` is generated from it by ``scripts/unasync_client.py``
(unasync), which drops ``async``/``await`` and renames ``AsyncLock`` to ``Lock``, ``async_sleep``
to ``sleep`` and ``async_map`` to ``thread_map``: each pair below does one thing two ways.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: One task at a time across awaits (the asynchronous client).
AsyncLock = asyncio.Lock
#: One thread at a time (the synchronous client, whose downloads run in threads).
Lock = threading.Lock

async_sleep = asyncio.sleep
sleep = time.sleep


async def async_map(fn: Callable[[T], Awaitable[R]], items: Iterable[T], *, workers: int) -> list[R]:
    """``fn`` over ``items`` as tasks, at most ``workers`` at a time; the results in order."""
    slots = asyncio.Semaphore(max(1, workers))

    async def one(item: T) -> R:
        async with slots:
            return await fn(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def thread_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """``fn`` over ``items`` in a pool of ``workers`` threads; the results in order."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(fn, items))
