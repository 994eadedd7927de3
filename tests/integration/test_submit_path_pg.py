"""The submission path on PostgreSQL: few statements, no tenant lock, no scan under a lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from support import Embedded, sql_statements, submit_social_job

from imagestudio.db import session_scope
from imagestudio.tenants.service import tenant_service
from imagestudio.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.integration


@contextmanager
def statements() -> Iterator[list[str]]:
    """SQL this thread sends while the block runs, white space folded (the relay's own thread is not counted)."""
    folded: list[str] = []
    with sql_statements(this_thread_only=True) as sent:
        yield folded
    folded.extend(" ".join(statement.split()) for statement in sent)


def submit(tenant_id: str, cost: int) -> None:
    submit_social_job(tenant_id, cost=cost, side=32)


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
    assert "count(*) from jobs" not in text.lower()  # nor active jobs counted over the jobs table
    assert "webhook_endpoints" not in text  # no subscriber look-up for a tenant without endpoints
    # The whole submission is one statement: the conditional account UPDATE, and the rows that
    # exist only when it matched. A paid job with an upload also reads the balance first (so a
    # 402 stores nothing).
    [submission] = [s for s in seen if "INSERT INTO jobs" in s]
    assert submission.startswith("WITH account AS ( UPDATE credit_accounts")
    assert "balance - reserved >=" in submission and "active_jobs +" in submission
    assert len(seen) <= (2 if cost else 1), text


def test_a_tenant_with_an_endpoint_takes_the_general_path_and_gets_its_event(pg_stack: Embedded) -> None:
    key = pg_stack.new_key(tier="pro")
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        session.add(
            WebhookEndpoint(
                tenant_id=tenant_id, url="https://hooks.example.com/is", event_types=[], secret="s" * 32
            )
        )
    with statements() as seen:
        submit(tenant_id, 0)
    assert any(s.startswith("INSERT INTO jobs") for s in seen)
    with session_scope() as session:
        events = session.scalars(
            select(WebhookDelivery.event_type).where(WebhookDelivery.tenant_id == tenant_id)
        ).all()
    assert events == ["job.queued"]


def test_a_submission_without_a_key_commits_in_its_statements_pipeline(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without an Idempotency-Key nothing else is written in the transaction: the statement and
    # its COMMIT leave in one psycopg pipeline (the account row held for the commit alone). A
    # key to record keeps the COMMIT apart (the key's row is written between them).
    from imagestudio.jobs.models import Job
    from imagestudio.jobs.repository import job_repository

    commits: list[bool] = []
    original = job_repository.insert_submission_postgres

    def spy(*args: object, **kwargs: object) -> bool:
        commits.append(bool(kwargs.get("commit")))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(job_repository, "insert_submission_postgres", spy)
    key = pg_stack.new_key(tier="pro")
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
    job_ids = [submit_social_job(tenant_id, cost=cost, side=32) for cost in (0, 5)]
    assert commits == [True, True]
    with session_scope() as session:  # committed, seen from another session
        assert all(session.get(Job, job_id) is not None for job_id in job_ids)
