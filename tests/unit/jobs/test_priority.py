"""A job's priority: a high one overtakes a backlog of normal ones, its place in the queue counts
it, and a priority the tenant's tier does not include is refused before anything is stored."""

from __future__ import annotations

from datetime import datetime, timedelta

import dramatiq
from social_form_support import API, auth, submit_form
from sqlalchemy import func, select
from support import Embedded, submit_social_job, wait_for

from imagestudio.broker import PriorityStubBroker
from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.models import Job
from imagestudio.jobs.recovery import job_recovery
from imagestudio.outbox import OutboxMessage


def started_at(job_id: str) -> datetime:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.started_at is not None, job_id
        return job.started_at


def published() -> bool:
    with session_scope() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
        return not pending


def test_the_in_process_broker_hands_out_the_highest_priority_first_then_in_order() -> None:
    broker = PriorityStubBroker()
    broker.declare_queue("q")
    for name, priority in [("a", None), ("b", 1), ("c", 2), ("d", 1), ("e", 0)]:
        options = {} if priority is None else {"broker_priority": priority}
        broker.enqueue(
            dramatiq.Message(queue_name="q", actor_name="x", args=(name,), kwargs={}, options=options)
        )
    queue = broker.queues["q"]
    order = [dramatiq.Message.decode(queue.get_nowait()).args[0] for _ in range(5)]
    assert order == ["c", "b", "d", "a", "e"]


def test_a_high_priority_job_overtakes_a_backlog_of_normal_ones(embedded: Embedded) -> None:
    key = embedded.new_key(tier="pro")
    backlog = [str(submit_form(embedded, key)["id"]) for _ in range(6)]
    high = submit_form(embedded, key, priority="high")
    assert high["priority"] == "high"
    high_id = str(high["id"])
    # Queued: the high job is first in its studio's queue, and every normal one counts it.
    read = embedded.client.get(f"{API}/jobs/{high_id}", headers=auth(key)).json()
    assert read["queue_position"] == 0
    first = embedded.client.get(f"{API}/jobs/{backlog[0]}", headers=auth(key)).json()
    last = embedded.client.get(f"{API}/jobs/{backlog[-1]}", headers=auth(key)).json()
    assert (first["queue_position"], last["queue_position"]) == (1, 6)

    wait_for(published, what="the outbox to publish the backlog and the high job")
    embedded.start_worker(threads=1)  # one job at a time: the order of starts is the queue's
    embedded.drain()
    for job_id in [*backlog, high_id]:
        assert embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key)).json()["status"] == "succeeded"
    assert started_at(high_id) < min(started_at(job_id) for job_id in backlog)


def test_a_priority_the_tier_does_not_include_is_a_403_naming_the_field_and_costs_nothing(
    embedded: Embedded,
) -> None:
    key = embedded.new_key(tier="basic")
    before = embedded.client.get(f"{API}/credits", headers=auth(key)).json()
    assert before["priorities"] == ["low", "normal"]
    problem = submit_form(embedded, key, expect=403, priority="high")
    assert problem["field"] == "priority" and problem["allowed"] == ["low", "normal"]
    after = embedded.client.get(f"{API}/credits", headers=auth(key)).json()
    assert after["available"] == before["available"] and after["reserved"] == before["reserved"]
    assert embedded.client.get(f"{API}/jobs", headers=auth(key)).json()["items"] == []


def test_an_unknown_priority_is_a_422_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    problem = submit_form(embedded, key, expect=422, priority="urgent")
    assert "priority" in str(problem)


def test_the_sweeper_does_not_take_a_high_job_overtaking_for_a_lost_message(embedded: Embedded) -> None:
    """A later job claimed first means a queued job's message is gone only when it was of no higher
    priority: a high job started first is the queue working as it should."""
    key, tenant_id = embedded.new_tenant()
    normal = submit_social_job(tenant_id)
    high = str(submit_form(embedded, key, priority="high")["id"])
    now = utcnow()
    with session_scope() as session:
        for job_id, values in {
            # the high job runs (under a live lease: the studio is busy) though created later
            high: {
                "status": "running",
                "started_at": now,
                "lease_owner": "w",
                "lease_until": now + timedelta(hours=1),
            },
            # the normal job's message was staged long ago (past the claim timeout)
            normal: {"created_at": now - timedelta(hours=1)},
        }.items():
            job = session.get(Job, job_id)
            assert job is not None
            for name, value in values.items():
                setattr(job, name, value)
    with session_scope() as session:
        result = job_recovery.sweep(session, now=now)
    assert result.restaged == 0
    with session_scope() as session:
        job = session.get(Job, normal)
        assert job is not None and job.restages == 0
