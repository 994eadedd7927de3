"""Commit → ``NOTIFY`` heard by a relay, for a commit made on an event loop: the thread's wake
(``CommitNotifier``) against the loop's own (``LoopNotifier``), alternating (issue 31, P2 idle).

One uvloop loop, as the gateway's: each probe commits a one-row ``INSERT`` on an async connection,
asks the chosen notifier, then does ``WORK_MS`` of CPU on the loop (what the gateway does after
the commit: the log line, the 202 rendered and written) and idles until the next probe. A listener
in another process (a relay's place) records when each notification arrived; a probe's figure is
its first notification after the commit returned. ``ROUNDS`` rounds of ``PROBES`` probes per side,
the sides taking turns, on a private database: many probes, so a loaded machine's noise shows as
spread, not as a difference between the sides.

    .venv/bin/python bench/bench_wake.py
"""

from __future__ import annotations

import asyncio
import bisect
import json
import multiprocessing
import os
import statistics
import time
from typing import Any

import psycopg
from bench_notify import private_database

from imagestudio.db import AsyncConnections
from imagestudio.outbox.notifier import CommitNotifier, LoopNotifier

CHANNEL = "bench_wake"
NOTIFICATION = f"SELECT pg_notify('{CHANNEL}', '')"
PROBES = int(os.environ.get("IMAGESTUDIO_BENCH_PROBES", "150"))
ROUNDS = int(os.environ.get("IMAGESTUDIO_BENCH_ROUNDS", "4"))
#: Probes a second (idle: each probe's wake goes before the next commit).
RATE = 40
#: CPU on the loop after each commit, in ms.
WORK_MS = 0.5


def listen(url: str, ready: Any, stop: Any, out: Any) -> None:
    heard: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        ready.set()
        while not stop.is_set():
            for _ in conn.notifies(timeout=0.2):
                heard.append(time.time())
    out.put(heard)


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def probes(url: str, side: str, thread: CommitNotifier) -> list[float]:
    """When each probe's commit returned (epoch seconds)."""
    commits = AsyncConnections(url, size=1)
    loop_notifier = LoopNotifier(NOTIFICATION, AsyncConnections(url, size=1), fallback=thread)
    committed = []
    for _ in range(PROBES):
        async with commits.connection() as conn:
            await conn.execute("INSERT INTO t (v) VALUES ('x')")
        committed.append(time.time())
        if side == "loop":
            loop_notifier.request()
        else:
            thread.request()
        busy(WORK_MS)
        await asyncio.sleep(1 / RATE)
    await loop_notifier.close()
    await commits.close()
    return committed


def main() -> dict[str, Any]:
    import uvloop

    with private_database("imagestudio_bench_wake") as url:
        thread = CommitNotifier(NOTIFICATION, url=lambda: url)
        out: dict[str, Any] = {"load_average": [round(os.getloadavg()[0], 1)], "rounds": []}
        for n in range(ROUNDS):
            row = {}
            for side in ("thread", "loop") if n % 2 == 0 else ("loop", "thread"):
                ctx = multiprocessing.get_context("spawn")
                ready, stop, heard_q = ctx.Event(), ctx.Event(), ctx.Queue()
                listener = ctx.Process(target=listen, args=(url, ready, stop, heard_q))
                listener.start()
                ready.wait(30)
                committed = uvloop.run(probes(url, side, thread))
                time.sleep(0.5)
                stop.set()
                heard = sorted(heard_q.get(timeout=30))
                listener.join(10)
                lat = []
                for c in committed:
                    i = bisect.bisect_left(heard, c)
                    if i < len(heard):
                        lat.append((heard[i] - c) * 1000)
                lat.sort()
                row[side] = {
                    "probes": len(lat),
                    "median_ms": round(statistics.median(lat), 3),
                    "p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 3),
                    "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 3),
                }
            out["rounds"].append(row)
            out["load_average"].append(round(os.getloadavg()[0], 1))
        return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
