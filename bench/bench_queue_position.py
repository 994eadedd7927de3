"""What a queued job's place in the queue adds to one poll, on PostgreSQL with 10,000 queued jobs.

A private database is migrated, one studio gets ``QUEUED`` queued jobs (and ``STARTED`` started in
the rate window, and ``FINISHED`` finished long ago), and ``job_service.read`` of the LAST queued job (the longest count: every other
queued job is ahead of it) is timed against the same read of a running job (no counts), both on one
session, ``ROUNDS`` times each, alternating. Prints the median of each, the added milliseconds and
their ratio, and the plan of the position count (an index-only scan on the partial index expected).

    .venv/bin/python bench/bench_queue_position.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
#: Queued jobs of the studio (the target's place is QUEUED - 1).
QUEUED = 10_000
#: Jobs of the studio started within the rate window.
STARTED = 50
#: Finished jobs of other days (most of a real table), which the partial index leaves out.
FINISHED = 40_000
#: Timed reads of each kind.
ROUNDS = 300


def main() -> None:
    subprocess.run(["bash", str(ROOT / "scripts/services.sh")], check=True, capture_output=True)
    db = f"imagestudio_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    os.environ["IMAGESTUDIO_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
    os.environ.setdefault("IMAGESTUDIO_SECRET_KEY", "bench-secret-key-0123456789abcdef0123")
    try:
        run()
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run() -> None:
    from sqlalchemy import insert, text

    from imagestudio.db import session_scope, utcnow
    from imagestudio.jobs.models import Job, JobStatus
    from imagestudio.jobs.service import job_service
    from imagestudio.migrate import upgrade
    from imagestudio.orm import table_of
    from imagestudio.tenants.models import Tenant

    upgrade()
    now = utcnow()
    with session_scope() as session:
        tenant = Tenant(name="bench", tier="enterprise")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id

        def row(n: int, status: JobStatus, started: bool) -> dict[str, object]:
            created = now - timedelta(seconds=QUEUED + STARTED - n)
            return {
                "id": str(uuid.uuid4()),
                "tenant_id": tenant_id,
                "studio": "social",
                "status": status.value,
                "params": {},
                "inputs": {},
                "progress": 0.0,
                "progress_message": "",
                "attempts": 1 if started else 0,
                "max_attempts": 3,
                "created_at": created,
                "updated_at": created,
                "started_at": now - timedelta(seconds=n % 500) if started else None,
                "restages": 0,
            }

        old = [row(-n, JobStatus.succeeded, False) for n in range(1, FINISHED + 1)]
        for n in range(0, FINISHED, 5000):
            session.execute(insert(table_of(Job)), old[n : n + 5000])
        rows = [row(n, JobStatus.succeeded, True) for n in range(STARTED - 1)]
        rows.append(row(STARTED - 1, JobStatus.running, True))
        rows += [row(STARTED + n, JobStatus.queued, False) for n in range(QUEUED)]
        session.execute(insert(table_of(Job)), rows)
        running_id, last_id = str(rows[STARTED - 1]["id"]), str(rows[-1]["id"])
    # As autovacuum leaves a table: statistics and the visibility map (index-only scans) up to date.
    with psycopg.connect(os.environ["IMAGESTUDIO_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")
    with session_scope() as session:
        last = job_service.read(session, tenant_id=tenant_id, job_id=last_id)
        assert last.queue_position == QUEUED - 1, last.queue_position
        plan = session.execute(
            text(
                "EXPLAIN SELECT count(*) FROM jobs WHERE status = 'queued' AND studio = 'social' "
                "AND created_at <= :c AND (created_at < :c OR id < :i)"
            ),
            {"c": now, "i": last_id},
        ).scalars()
        print("\n".join(plan))
        start = time.perf_counter()
        for _ in range(50):
            job_service.queue_place(
                session, job=job_service.get(session, tenant_id=tenant_id, job_id=last_id)
            )
        print(f"queue_place alone (with its get): {(time.perf_counter() - start) / 50 * 1000:.2f} ms")
        session.rollback()
        timings: dict[str, list[float]] = {"queued": [], "running": []}
        for _ in range(ROUNDS):
            for kind, job_id in (("queued", last_id), ("running", running_id)):
                start = time.perf_counter()
                job_service.read(session, tenant_id=tenant_id, job_id=job_id)
                timings[kind].append(time.perf_counter() - start)
                session.rollback()  # each poll its own transaction, as a request's session
    queued_ms = statistics.median(timings["queued"]) * 1000
    running_ms = statistics.median(timings["running"]) * 1000
    print(
        f"queue_position={last.queue_position} estimated_start_seconds={last.estimated_start_seconds}\n"
        f"median read: queued (with counts) {queued_ms:.2f} ms, running (without) {running_ms:.2f} ms; "
        f"added {queued_ms - running_ms:.2f} ms per poll (ratio {queued_ms / running_ms:.2f})"
    )


if __name__ == "__main__":
    sys.exit(main())
