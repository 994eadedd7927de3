"""What a ``NOTIFY`` inside a transaction costs PostgreSQL's commits (issue 31).

8 threads, each its own connection, commit one-row INSERTs for ``SECONDS`` with and without a
``pg_notify`` in the same transaction, alternating, ``ROUNDS`` times, on a private database. A
notifying transaction takes a database-wide lock at commit and holds it through its WAL flush, so
notifying commits run one at a time; the plain ones share flushes (group commit). This is why the
gateway sends its ``NOTIFY`` after the commit (``imagestudio.outbox.notifier``).

    .venv/bin/python bench/bench_notify.py
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WRITERS = 8
SECONDS = 4
ROUNDS = 3


def commits_per_second(url: str, *, notify: bool) -> float:
    done = [0] * WRITERS
    stop = time.monotonic() + SECONDS
    sql = "INSERT INTO t (v) VALUES ('x')" + ("; SELECT pg_notify('bench', '')" if notify else "")

    def writer(i: int) -> None:
        with psycopg.connect(url) as conn:
            while time.monotonic() < stop:
                conn.execute(sql)
                conn.commit()
                done[i] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 30)
    return sum(done) / SECONDS


@contextmanager
def private_database(prefix: str) -> Iterator[str]:
    """The URL of a new database holding one table ``t (id, v text)``, dropped afterwards."""
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id serial PRIMARY KEY, v text)")
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def main() -> dict[str, object]:
    with private_database("imagestudio_bench_notify") as url:
        rounds = [
            {"plain": commits_per_second(url, notify=False), "notify": commits_per_second(url, notify=True)}
            for _ in range(ROUNDS)
        ]
    ratios = sorted(r["notify"] / r["plain"] for r in rounds)
    return {
        "writers": WRITERS,
        "seconds": SECONDS,
        "rounds": rounds,
        "median_notify_to_plain": ratios[len(ratios) // 2],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
