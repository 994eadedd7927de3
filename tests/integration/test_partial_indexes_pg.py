"""Migration 0016 on PostgreSQL: the two indexes made partial, their queries still on them, and back.

A new job adds no entry to ``ix_jobs_studio_started`` and a message marked published leaves
``ix_outbox_pending`` (bench/README.md, "Issue 31, PostgreSQL's share, session 6"); the relay's
claim and the wait estimate's count must still find their rows through them.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from support import scratch_database

from imagestudio.migrate import alembic_config
from imagestudio.outbox.service import _CLAIM_PG

pytestmark = pytest.mark.integration


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of its own, migrated to head."""
    with scratch_database("imagestudio_idx") as url:
        command.upgrade(alembic_config(url), "head")
        yield url


def definitions(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE indexname IN ('ix_jobs_studio_started', 'ix_outbox_pending')"
        ).fetchall()
    return {name: definition.split(" USING ")[1] for name, definition in rows}


def plan(conn: psycopg.Connection, sql: str, params: tuple[object, ...] = ()) -> str:
    conn.execute("SET enable_seqscan = off")  # a near-empty table: ask whether the index can serve
    return "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params).fetchall())


def test_partial_indexes_serve_their_queries_and_migrate_down_and_up(database: str) -> None:
    assert definitions(database) == {
        "ix_jobs_studio_started": "btree (studio, started_at) WHERE (started_at IS NOT NULL)",
        "ix_outbox_pending": "btree (id) WHERE (published_at IS NULL)",
    }
    with psycopg.connect(database) as conn:
        # The relay's claim, and the wait estimate's count with its bound as a parameter (generic plan).
        assert "ix_outbox_pending" in plan(conn, _CLAIM_PG, (2,))
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(
            "PREPARE started(varchar, timestamptz) AS"
            " SELECT count(*) FROM jobs WHERE studio = $1 AND started_at >= $2"
        )
        assert "ix_jobs_studio_started" in plan(conn, "EXECUTE started('social', now())")
    command.downgrade(alembic_config(database), "0015")
    assert definitions(database) == {
        "ix_jobs_studio_started": "btree (studio, started_at)",
        "ix_outbox_pending": "btree (published_at, id)",
    }
    command.upgrade(alembic_config(database), "head")
    assert "WHERE" in definitions(database)["ix_outbox_pending"]
