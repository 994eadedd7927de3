"""Job leases and the sweeper: a job never runs twice at once, and a lost job still ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lease_support import expire_lease
from sqlalchemy import select, update
from support import Embedded, submit_social_job

from imagestudio.assets.models import Asset
from imagestudio.credits.models import CreditAccount
from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.leases import lease_keeper
from imagestudio.jobs.models import Job, JobEvent
from imagestudio.jobs.recovery import job_recovery
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.outbox import OutboxMessage

#: Far enough ahead that every lease and claim timeout of a default configuration has run out.
LATER = timedelta(hours=1)


def submit(stack: Embedded, *, cost: int = 0) -> tuple[str, str, str]:
    """A social job, queued with its message staged; (key, tenant id, job id)."""
    key, tenant_id = stack.new_tenant()
    return key, tenant_id, submit_social_job(tenant_id, cost=cost)


def job_row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def hold(job_id: str, owner: str) -> None:
    """Another worker claims the job (and is alive: its lease is fresh)."""
    with session_scope() as session:
        assert job_service.claim_lease(session, job_id=job_id, owner=owner).job is not None


def messages_for(job_id: str) -> list[OutboxMessage]:
    with session_scope() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [row for row in rows if row.kwargs.get("job_id") == job_id]


def published_then_lost() -> None:
    """The relay published every staged message, then the broker lost them (a purged queue)."""
    with session_scope() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.published_at.is_(None)).values(published_at=utcnow())
        )


def recording(calls: list[str]):  # type: ignore[no-untyped-def]
    def handler(ctx: JobContext) -> None:
        calls.append(ctx.lease_owner or "")
        ctx.add_output("a", b"data-a", ext="txt", content_type="text/plain", format="txt")

    return handler


def test_claim_takes_a_lease_and_success_clears_it(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)
    seen: list[tuple[str | None, bool]] = []

    def handler(ctx: JobContext) -> None:
        row = job_row(ctx.job_id)
        seen.append((row.lease_owner, row.lease_until is not None and row.lease_until > utcnow()))

    run_job(job_id, handler)
    [(owner, live)] = seen
    assert owner is not None and owner.count(":") == 2 and live  # host:pid:uuid, unexpired
    job = job_row(job_id)
    assert job.status == "succeeded" and job.lease_owner is None and job.lease_until is None


def test_duplicate_delivery_while_the_lease_is_held_does_not_run_the_job(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)
    hold(job_id, "other-host:1:live")
    calls: list[str] = []
    run_job(job_id, recording(calls))  # outside a worker: no retry to schedule, so dropped
    assert calls == []
    job = job_row(job_id)
    assert job.status == "running" and job.lease_owner == "other-host:1:live" and job.attempts == 1


def test_a_delivery_after_the_lease_expired_takes_the_job_over(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)
    hold(job_id, "dead-host:1:gone")
    expire_lease(job_id)
    calls: list[str] = []
    run_job(job_id, recording(calls))
    assert len(calls) == 1 and calls[0] != "dead-host:1:gone"
    job = job_row(job_id)
    assert job.status == "succeeded" and job.attempts == 2


def test_a_taken_over_delivery_stops_at_its_next_progress_without_writing_outputs(
    embedded: Embedded,
) -> None:
    _, _, job_id = submit(embedded)

    def stalls_then_resumes(ctx: JobContext) -> None:
        ctx.add_output("a", b"first", ext="txt", content_type="text/plain", format="txt")
        # The worker stalls past its lease; another delivery takes the job over meanwhile.
        expire_lease(ctx.job_id)
        hold(ctx.job_id, "new-host:2:taker")
        ctx._renewed_at -= 3600  # the stall, as this worker's clock saw it
        ctx.progress(0.5, "still here")
        ctx.add_output("b", b"late", ext="txt", content_type="text/plain", format="txt")

    run_job(job_id, stalls_then_resumes)
    job = job_row(job_id)
    assert job.status == "running" and job.lease_owner == "new-host:2:taker"
    with session_scope() as session:
        names = session.scalars(select(Asset.name).where(Asset.job_id == job_id)).all()
    assert list(names) == ["a"]


def test_a_taken_over_delivery_does_not_finish_the_job(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)

    def taken_over_silently(ctx: JobContext) -> None:
        expire_lease(ctx.job_id)
        hold(ctx.job_id, "new-host:2:taker")

    run_job(job_id, taken_over_silently)
    job = job_row(job_id)
    assert job.status == "running" and job.lease_owner == "new-host:2:taker"


def test_the_heartbeat_renews_the_leases_this_process_holds(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)
    hold(job_id, "this-host:1:beating")
    expire_lease(job_id, seconds_ago=0)
    lease_keeper.hold("this-host:1:beating")
    try:
        assert lease_keeper.renew_now() == 1
    finally:
        lease_keeper.release("this-host:1:beating")
    until = job_row(job_id).lease_until
    assert until is not None and until > utcnow() + timedelta(seconds=30)


def test_sweeper_restages_a_queued_job_whose_message_was_lost(embedded: Embedded) -> None:
    key, _, job_id = submit(embedded)
    published_then_lost()
    with session_scope() as session:
        result = job_recovery.sweep(session, now=utcnow() + LATER)
    assert result.restaged == 1 and result.lost == 0
    original, again = messages_for(job_id)  # the relay may have published it already: it runs
    assert again.id > original.id and again.actor_name == original.actor_name == "social.run_job"
    assert again.kwargs == original.kwargs  # the same message: the worker's claim decides
    assert job_row(job_id).restages == 1
    # A second pass before the new message's claim timeout leaves it alone.
    with session_scope() as session:
        assert job_recovery.sweep(session, now=utcnow() + LATER).restaged == 0
    embedded.start_worker()
    assert embedded.wait_job(key, job_id)["status"] == "succeeded"


def busy_until(job_id: str, owner: str, until: timedelta) -> None:
    """A live worker holds ``job_id`` with a lease running ``until`` from now."""
    hold(job_id, owner)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_until=utcnow() + until))


@pytest.mark.parametrize(
    ("busy", "restaged"),
    [
        # The studio's workers are busy on the older job and have claimed nothing staged after the
        # waiting one: the queue is a backlog worked through in order, the message is still in it.
        pytest.param(0, 0, id="a queued job waiting behind a backlog is left alone"),
        # A job created after it was claimed first: a queue works in order, so its message is gone.
        pytest.param(1, 1, id="a queued job a later one overtook is restaged"),
    ],
)
def test_sweeper_restages_a_queued_job_only_when_a_later_one_overtook_it(
    embedded: Embedded, busy: int, restaged: int
) -> None:
    jobs = [submit(embedded)[2], submit(embedded)[2]]
    published_then_lost()
    busy_until(jobs[busy], "live-host:1:busy", LATER * 2)
    with session_scope() as session:
        result = job_recovery.sweep(session, now=utcnow() + LATER)
    assert result.restaged == restaged and result.lost == 0
    queued = jobs[1 - busy]
    assert job_row(queued).restages == restaged and len(messages_for(queued)) == 1 + restaged


def test_sweeper_restages_a_running_job_whose_lease_expired(embedded: Embedded) -> None:
    key, _, job_id = submit(embedded)
    published_then_lost()
    hold(job_id, "dead-host:1:gone")
    expire_lease(job_id)
    with session_scope() as session:
        assert job_recovery.sweep(session).restaged == 1
    job = job_row(job_id)
    assert job.status == "running" and job.lease_owner is None and job.restages == 1
    embedded.start_worker()
    done = embedded.wait_job(key, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 2


def test_sweeper_leaves_a_live_lease_alone(embedded: Embedded) -> None:
    _, _, job_id = submit(embedded)
    published_then_lost()
    hold(job_id, "live-host:1:busy")
    with session_scope() as session:
        assert job_recovery.sweep(session).restaged == 0
    assert job_row(job_id).lease_owner == "live-host:1:busy"


def test_sweeper_judges_nothing_while_the_relay_is_behind(embedded: Embedded) -> None:
    embedded.client.app.state.relay.stop()  # type: ignore[attr-defined]
    _, _, job_id = submit(embedded)  # its message still waits in the outbox (broker away)
    with session_scope() as session:
        result = job_recovery.sweep(session, now=utcnow() + LATER)
    assert result.skipped and result.restaged == 0
    assert job_row(job_id).restages == 0


def test_sweeper_fails_a_job_after_its_last_restage_and_frees_credits_and_slot(embedded: Embedded) -> None:
    _, tenant_id, job_id = submit(embedded, cost=5)
    with session_scope() as session:
        account = session.get(CreditAccount, tenant_id)
        assert account is not None and account.reserved == 5 and account.active_jobs == 1
    now = utcnow()
    for restage in range(1, 4):  # IMAGESTUDIO_JOB_MAX_RESTAGES defaults to 3
        published_then_lost()
        now += LATER
        with session_scope() as session:
            assert job_recovery.sweep(session, now=now).restaged == 1
        assert job_row(job_id).restages == restage
    published_then_lost()
    with session_scope() as session:
        result = job_recovery.sweep(session, now=now + LATER)
    assert result.lost == 1 and result.restaged == 0
    job = job_row(job_id)
    assert job.status == "failed" and job.lease_owner is None
    assert job.error is not None and job.error["type"].endswith("/job-lost")
    assert "3 time(s)" in job.error["detail"]
    with session_scope() as session:
        account = session.get(CreditAccount, tenant_id)
        assert account is not None and account.reserved == 0 and account.active_jobs == 0
        events = session.scalars(select(JobEvent.type).where(JobEvent.job_id == job_id)).all()
    assert events[-1] == "job.failed"
    assert len(messages_for(job_id)) == 4  # the original and three re-stages, no more
