"""A tenant's share of the workers: past its cap its messages wait behind others, spending no attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lease_support import expire_lease
from sqlalchemy import update
from support import Embedded, reload_settings, submit_social_job, use_settings, wait_for

from imagestudio.config import Settings, get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.deferral import MAX_DEFER_FACTOR, defer_delay_seconds
from imagestudio.jobs.models import Job
from imagestudio.jobs.repository import JobShare
from imagestudio.jobs.service import job_service
from imagestudio.jobs.transitions import job_share

SHARE = JobShare(cap=2, per_studio=True)


def claim(job_id: str, owner: str, share: JobShare | None = SHARE) -> tuple[bool, bool]:
    """(claimed, at_share) for one delivery of ``job_id``."""
    with session_scope() as session:
        result = job_service.claim_lease(session, job_id=job_id, owner=owner, share=share)
        return result.job is not None, result.at_share


def job_row(job_id: str) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_the_derived_cap_leaves_one_thread_to_other_tenants() -> None:
    def settings(**values: object) -> Settings:
        return Settings(secret_key="x", **values)  # type: ignore[arg-type]

    assert settings(worker_threads=4).resolved_tenant_max_running_jobs == 3
    assert settings(worker_threads=1).resolved_tenant_max_running_jobs == 1
    assert settings(worker_threads=8, tenant_max_running_jobs=2).resolved_tenant_max_running_jobs == 2
    assert settings(worker_threads=4).resolved_webhook_tenant_max_in_flight == 3


def test_embedded_mode_counts_a_tenant_across_studios_one_pool_runs_them_all(embedded: Embedded) -> None:
    share = job_share()  # the embedded stack: one pool of threads for every studio
    assert share == JobShare(cap=get_settings().resolved_tenant_max_running_jobs, per_studio=False)


def test_a_tenant_at_its_cap_waits_without_spending_an_attempt_while_another_tenant_runs(
    embedded: Embedded,
) -> None:
    _, tenant_a = embedded.new_tenant("a")
    _, tenant_b = embedded.new_tenant("b")
    first, second, third = (submit_social_job(tenant_a) for _ in range(3))
    other = submit_social_job(tenant_b)

    assert claim(first, "w:1:a") == (True, False)
    assert claim(second, "w:1:b") == (True, False)
    assert claim(third, "w:1:c") == (False, True)  # A runs its two
    waiting = job_row(third)
    assert waiting.status == "queued" and waiting.attempts == 0 and waiting.lease_owner is None
    assert waiting.lease_until is None  # young: the sweeper would not judge it yet, nothing written
    # Waiting near a claim timeout, the sweeper is told it waits (not that its message was lost).
    grace = timedelta(seconds=get_settings().job_claim_timeout_seconds)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == third).values(created_at=utcnow() - grace * 0.9))
    assert claim(third, "w:1:c") == (False, True)
    noted = job_row(third).lease_until
    assert noted is not None and noted.replace(tzinfo=utcnow().tzinfo) > utcnow() + grace * 0.9
    assert claim(other, "w:1:d") == (True, False)  # B is not held up by A

    # A lease that expired (its worker died) no longer counts against A.
    expire_lease(first)
    assert claim(third, "w:1:e") == (True, False)
    assert job_row(third).attempts == 1


def test_a_job_between_retries_holds_no_share_and_other_studios_have_their_own(embedded: Embedded) -> None:
    _, tenant = embedded.new_tenant()
    first, second, third = (submit_social_job(tenant) for _ in range(3))
    assert claim(first, "w:1:a") == (True, False)
    assert claim(second, "w:1:b") == (True, False)
    with session_scope() as session:  # the first failed an attempt and let go until its retry
        assert job_service.release_lease(session, job_id=first, owner="w:1:a", seconds=60)
    assert claim(third, "w:1:c") == (True, False)
    assert claim(first, "w:1:d") == (False, True)  # its retry now waits for a share like any job

    with session_scope() as session:  # the same tenant's job in another studio
        session.execute(update(Job).where(Job.id == first).values(studio="compress"))
    assert claim(first, "w:1:e") == (True, False)
    assert claim(first, "w:1:f", share=None) == (False, False)  # and it is held now, as before
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == first).values(lease_owner=None))
    assert claim(first, "w:1:g", share=JobShare(cap=2, per_studio=False)) == (False, True)


def test_a_deferral_waits_longer_each_time_up_to_a_bound() -> None:
    waits = [defer_delay_seconds(n, base=1.0) for n in range(8)]
    assert 0.75 <= waits[0] <= 1.25 and 1.5 <= waits[1] <= 2.5
    assert all(w <= MAX_DEFER_FACTOR * 1.25 for w in waits)
    assert waits[-1] >= MAX_DEFER_FACTOR * 0.75


def test_a_deferred_message_runs_once_its_tenant_has_room_and_spends_no_retry(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(
        monkeypatch, IMAGESTUDIO_TENANT_MAX_RUNNING_JOBS="1", IMAGESTUDIO_TENANT_DEFER_SECONDS="0.05"
    )
    reload_settings()
    key, tenant = embedded.new_tenant()
    busy = submit_social_job(tenant)
    assert claim(busy, "elsewhere:1:a", share=None) == (True, False)  # another worker runs one of A's
    queued = submit_social_job(tenant)
    deferred: list[int] = []
    original = embedded.broker.enqueue

    def enqueue(message, *, delay=None):  # type: ignore[no-untyped-def]
        if message.options.get("deferrals"):
            deferred.append(int(message.options.get("retries", 0)))
        return original(message, delay=delay)

    monkeypatch.setattr(embedded.broker, "enqueue", enqueue)
    embedded.start_worker()
    wait_for(lambda: len(deferred) >= 3, what="the message to be put back a few times")
    assert job_row(queued).status == "queued" and job_row(queued).attempts == 0
    assert set(deferred) == {0}  # never counted as a retry

    with session_scope() as session:
        assert job_service.succeed(session, job_id=busy)
    done = embedded.wait_job(key, queued)
    assert done["status"] == "succeeded" and done["attempts"] == 1
