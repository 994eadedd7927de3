"""Queue position and start deadlines on PostgreSQL: the one-statement submission stores the
deadline, priority and retention, the position count runs on the partial index and counts
priority, and a job past its deadline expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from support import Embedded, make_image

from imagestudio.db import get_engine, session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.jobs.recovery import job_recovery

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def submit(stack: Embedded, key: str, **data: str) -> str:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        files={"image": ("a.png", make_image(64, 48), "image/png")},
        data={"platforms": "youtube", **data},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_queue_position_and_deadline_expiry_on_postgres(pg_stack: Embedded) -> None:
    key, _ = pg_stack.new_tenant()
    ids = [submit(pg_stack, key) for _ in range(3)]
    last = submit(pg_stack, key, start_deadline="2")
    headers = {"Authorization": f"Bearer {key}"}
    body = pg_stack.client.get(f"{API}/jobs/{last}", headers=headers).json()
    first = pg_stack.client.get(f"{API}/jobs/{ids[0]}", headers=headers).json()
    # The database is shared with earlier tests of this worker: social jobs they left queued count too.
    ahead = first["queue_position"]
    assert body["queue_position"] == ahead + 3
    # Null until a social job starts within the window; earlier tests' jobs may have (unit tests pin the arithmetic).
    assert body["estimated_start_seconds"] is None or body["estimated_start_seconds"] > 0
    assert body["start_deadline"] is not None  # stored by the one-statement submission (no webhook)

    # Fresh statistics and visibility map, as autovacuum keeps them on a live table: the planner then
    # weighs the partial index's index-only count against the others on what the table now holds.
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE jobs"))
    with session_scope() as session:
        job = session.get(Job, last)
        assert job is not None and job.start_deadline is not None
        session.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask for the index path
        indexed = "\n".join(
            session.execute(
                text(
                    "EXPLAIN SELECT count(*) FROM jobs WHERE status = 'queued' AND studio = 'social' "
                    "AND priority = 1 AND created_at <= :c AND (created_at < :c OR id < :i)"
                ),
                {"c": job.created_at, "i": job.id},
            ).scalars()
        )
    assert "ix_jobs_queued_studio_priority" in indexed, indexed

    # The one-statement submission stores the priority and the retention too; a high job is ahead
    # of every normal one.
    high = submit(pg_stack, key, priority="high", output_retention_seconds="3600")
    with session_scope() as session:
        row = session.get(Job, high)
        assert row is not None and (row.priority, row.output_retention_seconds) == (2, 3600)
    assert pg_stack.client.get(f"{API}/jobs/{high}", headers=headers).json()["queue_position"] == 0
    behind = pg_stack.client.get(f"{API}/jobs/{ids[0]}", headers=headers).json()["queue_position"]
    assert behind == ahead + 1
    pg_stack.client.post(f"{API}/jobs/{high}/cancel", headers=headers)

    with session_scope() as session:
        result = job_recovery.sweep(session, now=utcnow() + timedelta(seconds=5))
    assert result.expired == 1
    expired = pg_stack.client.get(f"{API}/jobs/{last}", headers=headers).json()
    assert expired["status"] == "expired" and expired["queue_position"] is None
    still = pg_stack.client.get(f"{API}/jobs/{ids[2]}", headers=headers).json()
    assert still["status"] == "queued" and still["queue_position"] == ahead + 2
