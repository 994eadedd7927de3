"""The JSON submission committed from the gateway's event loop, on PostgreSQL.

A warm JSON submission naming an upload takes no SQLAlchemy session and no worker thread: its one
statement and COMMIT go through an async psycopg connection. These tests hold that it does, and
that it keeps the thread path's guarantees: the job runs (its message committed with it and
published), parallel paid submissions never overdraw, a refusal writes nothing and is answered
with its reason, and whatever needs the database takes the thread path.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from support import Embedded, make_image, sql_statements, wait_for

from imagestudio.credits.models import CreditEntry
from imagestudio.credits.service import credit_service
from imagestudio.db import AsyncConnections, CacheOnlySession, NeedsDatabase, libpq_url, session_scope
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.jobs.repository import job_repository
from imagestudio.outbox import OutboxMessage

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def upload(stack: Embedded, key: str) -> str:
    response = stack.client.post(
        f"{API}/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("a.png", make_image(64, 64), "image/png")},
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def post_json(stack: Embedded, key: str, upload_id: str) -> Any:
    return stack.client.post(
        f"{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        json={"image": upload_id, "formats": ["instagram.feed_square"]},
    )


@pytest.fixture
def pg_stack_env() -> dict[str, str]:
    """The loop path is off by default until a quiet run shows it faster (docs/settings.md)."""
    return {"IMAGESTUDIO_GATEWAY_SUBMIT_ON_LOOP": "true"}


@pytest.fixture
def loop_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per submission statement sent from the event loop: whether the account accepted it."""
    calls: list[bool] = []
    original = job_repository.insert_submission_async

    async def spy(*args: Any, **kwargs: Any) -> bool:
        accepted = await original(*args, **kwargs)
        calls.append(accepted)
        return accepted

    monkeypatch.setattr(job_repository, "insert_submission_async", spy)
    return calls


def test_a_warm_json_submission_commits_from_the_loop_and_its_job_runs(
    pg_stack: Embedded, loop_calls: list[bool]
) -> None:
    key, tenant_id = pg_stack.new_tenant(tier="pro")
    image = upload(pg_stack, key)
    assert post_json(pg_stack, key, image).status_code == 202  # warms the grant and the caches
    with sql_statements() as sent:
        response = post_json(pg_stack, key, image)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"].endswith(job_id) and "ratelimit" in response.headers
    assert loop_calls[-1] is True
    assert not [s for s in sent if "INSERT INTO jobs" in s or "credit_accounts" in s]
    with session_scope() as session:  # every row of the submission, committed together
        job = session.get(Job, job_id)
        assert job is not None and job.status == "queued" and job.tenant_id == tenant_id
        events = session.scalars(select(JobEvent.type).where(JobEvent.job_id == job_id)).all()
        assert list(events) == ["job.queued"]
        messages = session.scalars(select(OutboxMessage.kwargs)).all()
        assert any(kwargs.get("job_id") == job_id for kwargs in messages)
        assert credit_service.active_jobs(session, tenant_id=tenant_id) == 2
    pg_stack.start_worker()
    pg_stack.drain()
    assert pg_stack.wait_job(key, job_id)["status"] == "succeeded"


def test_parallel_paid_json_submissions_on_the_loop_never_overdraw(
    pg_stack: Embedded, loop_calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagestudio.studios.social as social

    monkeypatch.setattr(social, "price", lambda params: 10)
    key, tenant_id = pg_stack.new_tenant(tier="pro")
    image = upload(pg_stack, key)
    with session_scope() as session:
        credit_service.grant_month(session, tenant_id=tenant_id, tier="pro")
    with session_scope() as session:
        available = credit_service.balance(session, tenant_id=tenant_id).available
    with session_scope() as session:  # 60 credits: one warm-up and five racers fit
        credit_service.grant(session, tenant_id=tenant_id, amount=60 - available, note="test", kind="adjust")  # type: ignore[arg-type]
    assert post_json(pg_stack, key, image).status_code == 202
    start = threading.Barrier(12)

    def attempt(_: int) -> int:
        start.wait()
        return int(post_json(pg_stack, key, image).status_code)

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(attempt, range(12)))
    assert sorted(codes) == [202] * 5 + [402] * 7
    # The warm-up filled the caches in a thread; racers commit from the loop (one whose cache
    # lapsed meanwhile takes the thread path: the same statement, the same outcome).
    assert loop_calls.count(True) >= 1
    refused = post_json(pg_stack, key, image)  # answered by the thread path, with its reason
    assert refused.status_code == 402 and refused.json()["cost"] == 10
    with session_scope() as session:
        balance = credit_service.balance(session, tenant_id=tenant_id)
        assert balance.reserved == 60 and balance.available == 0
        rows = session.scalars(select(CreditEntry).where(CreditEntry.tenant_id == tenant_id)).all()
        assert balance.reserved == sum(r.reserved_delta for r in rows)
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
        assert jobs == 6 == credit_service.active_jobs(session, tenant_id=tenant_id)


def test_a_concurrency_refusal_on_the_loop_writes_nothing_and_names_the_limit(
    pg_stack: Embedded, loop_calls: list[bool]
) -> None:
    key, tenant_id = pg_stack.new_tenant(tier="free")  # free: 2 jobs at once
    image = upload(pg_stack, key)
    codes = [post_json(pg_stack, key, image).status_code for _ in range(4)]
    assert codes == [202, 202, 429, 429]
    assert False in loop_calls  # the account refused a statement sent from the loop
    refused = post_json(pg_stack, key, image)
    assert refused.json()["limit"] == "max_concurrent_jobs"
    with session_scope() as session:
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
        assert jobs == 2 == credit_service.active_jobs(session, tenant_id=tenant_id)


def test_a_submission_needing_the_database_or_a_key_takes_the_thread_path(
    pg_stack: Embedded, loop_calls: list[bool]
) -> None:
    key, _ = pg_stack.new_tenant(tier="pro")
    image = upload(pg_stack, key)
    keyed = pg_stack.client.post(
        f"{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "once"},
        json={"image": image, "formats": ["instagram.feed_square"]},
    )
    assert keyed.status_code == 202
    assert loop_calls == []  # a key is recorded in the job's transaction: the thread path
    unknown = post_json(pg_stack, key, "upl_missing")
    assert unknown.status_code == 422 and unknown.json()["field"] == "image"
    assert loop_calls == []  # the upload was not in the cache: looked up in a thread, refused


def test_a_cache_only_session_refuses_every_query() -> None:
    session = CacheOnlySession()
    with pytest.raises(NeedsDatabase):
        session.execute(text("SELECT 1"))
    with pytest.raises(NeedsDatabase):
        session.get(Job, "job_x")
    session.rollback()  # nothing began: nothing to do
    session.close()


def test_a_connection_lent_back_inside_a_transaction_is_replaced(pg_stack: Embedded) -> None:
    async def scenario() -> tuple[int, int, int]:
        connections = AsyncConnections(libpq_url(), size=1)
        async with connections.connection() as conn:
            first = conn.info.backend_pid
            await conn.execute("BEGIN")  # left open: its user failed mid-way
        async with connections.connection() as conn:
            second = conn.info.backend_pid
            with pytest.raises(psycopg.errors.DivisionByZero):
                await conn.execute("SELECT 1 / 0")  # autocommit: the failure ended its own transaction
        async with connections.connection() as conn:
            third = conn.info.backend_pid
        await connections.close()
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first != second and second == third

    def gone() -> bool:  # the one dropped is closed, not left idle in a transaction
        with session_scope() as session:
            return not session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :a"), {"a": first}
            )

    wait_for(gone, what="the dropped connection's backend to end")


def test_an_idle_gateway_reuses_its_last_connection_and_opens_another_only_when_all_are_lent(
    pg_stack: Embedded,
) -> None:
    # One submission at a time must not open a connection per place (a cold backend each time).
    async def scenario() -> tuple[set[int], set[int]]:
        connections = AsyncConnections(libpq_url(), size=4)
        one_at_a_time = set()
        for _ in range(4):
            async with connections.connection() as conn:
                one_at_a_time.add(conn.info.backend_pid)
        async with connections.connection() as a, connections.connection() as b:
            two_at_once = {a.info.backend_pid, b.info.backend_pid}
        await connections.close()
        return one_at_a_time, two_at_once

    one_at_a_time, two_at_once = asyncio.run(scenario())
    assert len(one_at_a_time) == 1
    assert len(two_at_once) == 2 and one_at_a_time < two_at_once


def test_an_idle_connection_the_server_ended_is_replaced_before_it_is_lent(pg_stack: Embedded) -> None:
    # A PostgreSQL restart ends every idle connection: the next submission must not fail on one.
    async def scenario() -> tuple[int, int]:
        connections = AsyncConnections(libpq_url(), size=1)
        async with connections.connection() as conn:
            first = conn.info.backend_pid
        with session_scope() as session:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

        def hung_up() -> bool:
            with session_scope() as session:
                return not session.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": first}
                )

        wait_for(hung_up, what="the terminated backend to end")
        async with connections.connection() as conn:
            second = conn.info.backend_pid
            cursor = await conn.execute("SELECT 1")
            assert await cursor.fetchone() == (1,)
        await connections.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert first != second


def test_a_tenants_submissions_arriving_during_its_statement_commit_together_in_the_next(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a tenant's statement is in flight its next submissions wait and go in one statement
    (``jobs.submission_groups``): each job still gets its own row, created_at, event, message and
    reserve, and the account holds their sum."""
    import json

    import imagestudio.studios.social as social

    monkeypatch.setattr(social, "price", lambda params: 3)
    key, tenant_id = pg_stack.new_tenant(tier="pro")
    image = upload(pg_stack, key)
    assert post_json(pg_stack, key, image).status_code == 202  # warms the grant and the caches
    jobs_per_statement: list[int] = []
    original = job_repository.insert_submission_async

    async def held(conn: Any, params: dict[str, Any]) -> bool:
        jobs_per_statement.append(len(json.loads(params["jobs"])))
        if len(jobs_per_statement) == 1:
            await asyncio.sleep(0.5)  # the first statement in flight while the others arrive
        return await original(conn, params)

    monkeypatch.setattr(job_repository, "insert_submission_async", held)
    start = threading.Barrier(6)

    def attempt(_: int) -> Any:
        start.wait()
        return post_json(pg_stack, key, image)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(attempt, range(6)))
    assert [r.status_code for r in responses] == [202] * 6
    assert sum(jobs_per_statement) == 6 and max(jobs_per_statement) > 1
    with session_scope() as session:
        for response in responses:
            body = response.json()
            job = session.get(Job, body["id"])
            assert job is not None and job.created_at.isoformat() == body["created_at"].replace("Z", "+00:00")
            events = session.execute(
                select(JobEvent.type, JobEvent.created_at).where(JobEvent.job_id == job.id)
            ).all()
            assert events == [("job.queued", job.created_at)]
            reserves = session.scalars(
                select(CreditEntry.reserved_delta).where(CreditEntry.job_id == job.id)
            ).all()
            assert list(reserves) == [3]
        messages = [m.get("job_id") for m in session.scalars(select(OutboxMessage.kwargs)).all()]
        assert all(messages.count(r.json()["id"]) == 1 for r in responses)
        balance = credit_service.balance(session, tenant_id=tenant_id)
        assert balance.reserved == 3 * 7
        assert credit_service.active_jobs(session, tenant_id=tenant_id) == 7
