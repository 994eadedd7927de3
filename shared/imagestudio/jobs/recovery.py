"""The job sweeper: a job whose message was lost, or whose worker died, still ends.

A message can be lost after the job committed (a queue purged or deleted, a broker that lost
it, a message dead-lettered while the database was down) and a worker can die holding a job.
Either way the job would stay queued or running for ever, holding its credits and a slot of
its tenant's concurrency. Every pass the sweeper finds

- running jobs whose lease expired (no worker renewed it: the worker died), and
- queued jobs not claimed within ``JOB_CLAIM_TIMEOUT_SECONDS`` of their message being staged
  (or re-staged), unless their studio's workers are busy and have claimed no job created after
  it (a backlog worked through in order: the message is still waiting in it),

and stages their ``<studio>.run_job`` message again through the outbox (the same message the
gateway staged, so the worker's claim and idempotency hold), counting re-stages on the job. Past
``JOB_MAX_RESTAGES`` it fails the job (``job-lost``): credits released, slot freed, the
``job.failed`` event and webhook staged like any other failure.

First, every pass ends ``expired`` the queued jobs past their ``start_deadline`` (credits
released, ``job.expired`` staged), whether or not their message is still waiting: a worker's
claim refuses them too, but a message never delivered (broker away, a long backlog) would
otherwise hold the job queued past its deadline.

Several sweepers may run at once (one beside each outbox relay): rows are read with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL and each re-stage is a conditional UPDATE on the re-stage count, so
a job is re-staged once per pass whoever sweeps. While the outbox relay itself is behind (its
oldest pending row older than the claim timeout: the broker is away) queued jobs are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.db import utcnow
from imagestudio.errors import JobLost
from imagestudio.jobs.models import Job, JobStatus
from imagestudio.jobs.repository import job_repository
from imagestudio.jobs.service import job_service
from imagestudio.jobs.transitions import run_job_message
from imagestudio.outbox.service import outbox_service
from imagestudio.periodic import PeriodicSweep
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import JOBS_LOST, JOBS_RESURRECTED
from imagestudio.urls import job_path

log = get_logger(__name__)

#: Jobs one pass looks at (the next pass takes the rest).
SWEEP_BATCH = 200


@dataclass(frozen=True)
class SweepResult:
    """What one pass did."""

    restaged: int = 0
    lost: int = 0
    expired: int = 0
    #: The outbox relay was behind: nothing was judged.
    skipped: bool = False


def _reason(job: Job) -> str:
    """``lease_expired`` when a worker held the job and stopped renewing; else ``unclaimed``."""
    return "lease_expired" if job.status == JobStatus.running and job.lease_owner else "unclaimed"


def _lost_problem(job: Job, reason: str) -> dict[str, Any]:
    lost = JobLost(lease_expired=reason == "lease_expired", restages=job.restages, attempts=job.attempts)
    return lost.to_problem(instance=job_path(job.id))


class JobRecovery:
    def sweep(self, session: Session, *, now: datetime | None = None) -> SweepResult:
        """One pass: re-stage lost jobs, fail those past their last re-stage; commits."""
        settings = get_settings()
        now = now or utcnow()
        grace = timedelta(seconds=settings.job_claim_timeout_seconds)
        expired = self._expire_past_deadline(session, now)
        oldest = outbox_service.oldest_pending(session)
        if oldest is not None and oldest < now - grace:
            # Messages are waiting to be published (broker away): their jobs were not lost.
            session.rollback()
            log.warning("job.sweep_skipped", reason="outbox behind", oldest_pending=oldest.isoformat())
            return SweepResult(skipped=True, expired=expired)
        jobs = job_repository.lost(session, now=now, unclaimed_before=now - grace, limit=SWEEP_BATCH)
        restaged: list[tuple[str, str]] = []
        lost: list[str] = []
        busy: dict[str, bool] = {}
        for job in jobs:
            reason = _reason(job)
            if job.status == JobStatus.queued and self._waiting_in_backlog(session, job, grace, now, busy):
                continue
            # Conditional on the re-stage count this pass read: a claim or another sweeper that
            # got there first wins, and this pass leaves the job alone.
            if not job_repository.take_for_restage(session, job=job, now=now, until=now + grace):
                continue
            if job.restages >= settings.job_max_restages:
                job_service.fail(session, job_id=job.id, problem=_lost_problem(job, reason))
                lost.append(job.studio)
                log.error("job.lost", job_id=job.id, reason=reason, restages=job.restages)
                continue
            queue_name, actor_name, kwargs, options = run_job_message(job)
            outbox_service.add(
                session, queue_name=queue_name, actor_name=actor_name, kwargs=kwargs, options=options
            )
            restaged.append((job.studio, reason))
            log.warning("job.restaged", job_id=job.id, reason=reason, restage=job.restages + 1)
        session.commit()
        for studio, reason in restaged:
            JOBS_RESURRECTED.labels(studio, reason).inc()
        for studio in lost:
            JOBS_LOST.labels(studio).inc()
        return SweepResult(restaged=len(restaged), lost=len(lost), expired=expired)

    @staticmethod
    def _expire_past_deadline(session: Session, now: datetime) -> int:
        """End ``expired`` the queued jobs past their start deadline; committed. How many ended."""
        expired = 0
        for job_id in job_repository.past_deadline(session, now=now, limit=SWEEP_BATCH):
            if job_service.expire(session, job_id=job_id):  # a claim that got there first wins
                expired += 1
                log.info("job.expired", job_id=job_id, by="sweeper")
        session.commit()
        return expired

    @staticmethod
    def _waiting_in_backlog(
        session: Session, job: Job, grace: timedelta, now: datetime, busy: dict[str, bool]
    ) -> bool:
        """Whether a queued job's message is still in a queue its workers are working through.

        A job that waits longer than the claim timeout behind a backlog has not lost its message:
        re-staging it would only lengthen the queue, and failing it would fail good jobs. It waits
        while its studio's workers are busy (a job runs under a live lease) and none of them has
        claimed a job created after its message was staged; a queue works through in order (by
        priority, then in order), so a later job of no higher priority claimed first means this
        message is gone.
        """
        if job.studio not in busy:
            busy[job.studio] = job_repository.studio_busy(session, studio=job.studio, now=now)
        if not busy[job.studio]:
            return False
        staged_at = job.lease_until - grace if job.lease_until is not None else job.created_at
        if staged_at.tzinfo is None:  # SQLite hands back naive datetimes
            staged_at = staged_at.replace(tzinfo=now.tzinfo)
        # A later job of a higher priority overtakes by design: only one of this priority or lower
        # claimed first says this message is gone.
        return not job_repository.claimed_after(
            session, studio=job.studio, staged_at=staged_at, priority=job.priority
        )


job_recovery = JobRecovery()


class JobSweeper(PeriodicSweep):
    """Calls ``job_recovery.sweep`` every ``JOB_SWEEP_SECONDS`` from a thread, beside an outbox relay."""

    def __init__(self, *, interval_seconds: float | None = None) -> None:
        super().__init__(
            name="job-sweeper",
            interval_seconds=interval_seconds or get_settings().job_sweep_seconds,
            sweep=job_recovery.sweep,
            failure_event="job.sweep_failed",
        )
