"""The submission path on PostgreSQL: few statements, no tenant lock, no scan under a lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from support import Embedded, make_image

from imagestudio.db import get_engine, session_scope
from imagestudio.jobs.service import Upload, job_service
from imagestudio.tenants.service import tenant_service

pytestmark = pytest.mark.integration


@contextmanager
def statements() -> Iterator[list[str]]:
    """SQL this thread sends while the block runs (the relay's own thread is not counted)."""
    seen: list[str] = []
    me = threading.get_ident()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == me:
            seen.append(" ".join(statement.split()))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def submit(tenant_id: str, cost: int) -> None:
    with session_scope() as session:
        job_service.submit(
            session,
            tenant_id=tenant_id,
            studio="social",
            params={"formats": ["instagram.feed_square"]},
            uploads=[Upload("image", make_image(32, 32), "png", "image/png")],
            cost=cost,
        )


@pytest.mark.parametrize("cost", [0, 5])
def test_a_warm_submission_is_a_few_inserts_and_one_conditional_update(pg_stack: Embedded, cost: int) -> None:
    key = pg_stack.new_key(tier="pro")
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
    submit(tenant_id, cost)  # the first one grants the month and learns the tenant has no endpoints
    with statements() as seen:
        submit(tenant_id, cost)
    text = "\n".join(seen)
    assert "FOR UPDATE" not in text  # no row of the tenant is locked for the whole transaction
    assert "FROM credit_ledger" not in text  # the balance is not summed from the ledger
    assert "count(*)" not in text.lower()  # nor active jobs counted over the jobs table
    assert "webhook_endpoints" not in text  # no subscriber look-up for a tenant without endpoints
    updates = [s for s in seen if s.startswith("UPDATE credit_accounts")]
    assert len(updates) == 1 and "WHERE" in updates[0]
    # At most: the tenant's limits, jobs, their events, outbox, the account; a paid job with an
    # upload also reads the balance before storing it (a 402 stores nothing) and adds its reserve row.
    assert len(seen) <= (7 if cost else 5), text
