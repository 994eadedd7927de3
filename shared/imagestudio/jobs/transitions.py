"""The worker-side job transitions: leases, progress, outputs' guard, success, failure and expiry.

running → succeeded | failed, queued → expired (past its start deadline), each a conditional UPDATE from the expected states only, committed
with the caller's transaction. :class:`~imagestudio.jobs.service.JobService` takes these methods
from :class:`JobTransitions`, so every caller keeps to the one ``job_service``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.credits.service import credit_service
from imagestudio.db import utcnow
from imagestudio.jobs.models import CHECKED_SIZES, UNPREPARED_REQUEST, Job, JobStatus, NewJob
from imagestudio.jobs.repository import JobShare, job_repository
from imagestudio.messaging import PRIORITY_OPTION, RUN_JOB_ACTORS, Studio
from imagestudio.outbox.service import outbox_service
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import CREDITS_CAPTURED, CREDITS_REFUNDED
from imagestudio.webhooks.service import webhook_service

log = get_logger(__name__)


@dataclass(frozen=True)
class LeaseClaim:
    """What ``JobService.claim_lease`` found: the job to run, or who holds it (or neither: it ended)."""

    job: Job | None = None
    #: Another worker's lease runs until then: this delivery backs off.
    held_until: datetime | None = None
    #: The job's tenant already runs its share of the workers: this delivery waits behind others.
    at_share: bool = False


def _aware(moment: datetime | None, now: datetime) -> datetime | None:
    """``moment`` comparable with ``now`` (SQLite hands back naive UTC datetimes)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=now.tzinfo)
    return moment


def run_job_message(job: NewJob) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A job's ``<studio>.run_job`` message: (queue, actor, kwargs, options). Ids and object keys
    only; the tenant's id lets a worker put back a message of a tenant at its share without a
    query; the options carry the job's priority (its copies, deferred or re-staged, keep it)."""
    kwargs = {"job_id": job.id, "inputs": job.inputs, "tenant_id": job.tenant_id}
    options = {PRIORITY_OPTION: job.priority}
    return Studio(job.studio).value, RUN_JOB_ACTORS[job.studio], kwargs, options


def job_share() -> JobShare:
    """This process's tenant share: per studio where each studio has its own workers (RabbitMQ),
    across every studio in embedded mode, where one pool of threads runs them all."""
    settings = get_settings()
    return JobShare(cap=settings.resolved_tenant_max_running_jobs, per_studio=not settings.embedded_broker)


class JobTransitions:
    """What a worker does to a job it runs (the worker side of :class:`~imagestudio.jobs.service.JobService`)."""

    def claim_lease(
        self, session: Session, *, job_id: str, owner: str, share: JobShare | None = None
    ) -> LeaseClaim:
        """Claim a job for one delivery under ``owner``'s lease, in one guarded UPDATE.

        A queued job, or a running one whose lease nobody holds or has expired (its worker died),
        becomes running under ``owner`` until now + ``JOB_LEASE_SECONDS``. A job another worker
        holds answers ``held_until``; a missing or finished job answers an empty claim. With
        ``share``, a job whose tenant already runs ``share.cap`` jobs answers ``at_share`` (its
        attempts untouched, the sweeper told it waits rather than lost its message).
        """
        settings = get_settings()
        now = utcnow()
        grace = timedelta(seconds=settings.job_claim_timeout_seconds)
        waiting = share and job_repository.over_share(session, job_id=job_id, share=share, now=now)
        if waiting:
            # The common case while a tenant floods: one read, no lock, mostly no write.
            self._keep_waiting(session, job_id=job_id, seen=waiting, now=now, grace=grace)
            return LeaseClaim(at_share=True)
        until = now + timedelta(seconds=settings.job_lease_seconds)
        claimed = job_repository.claim_lease(
            session, job_id=job_id, owner=owner, now=now, until=until, share=share
        )
        job = job_repository.get(session, job_id, fresh=True)
        if job is None:
            log.warning("job.missing", job_id=job_id)
            return LeaseClaim()
        if not claimed:
            if self._past_deadline(job, now) and self.expire(session, job_id=job_id):
                log.info("job.expired", job_id=job_id, start_deadline=job.start_deadline)
                return LeaseClaim()
            if JobStatus(job.status).terminal:
                log.info("job.already_finished", job_id=job_id, status=job.status)
                return LeaseClaim()
            lease_until = _aware(job.lease_until, now)
            if job.lease_owner is not None and lease_until is not None and lease_until > now:
                log.info("job.lease_held", job_id=job_id, owner=job.lease_owner, until=job.lease_until)
                return LeaseClaim(held_until=lease_until)
            if share is None:  # claimable a moment ago: another delivery took it and let go since
                return LeaseClaim(held_until=now)
            self._keep_waiting(
                session, job_id=job_id, seen=(job.created_at, job.lease_until), now=now, grace=grace
            )
            return LeaseClaim(at_share=True)
        job_repository.add_event(
            session, job_id=job_id, type="job.running", data={"status": "running", "attempt": job.attempts}
        )
        if job.attempts == 1:
            # One job.running webhook per job: a retry or a takeover (its worker died) claims it
            # again, and a second delivery would carry a new webhook-id for the same event, which
            # no receiver could dedupe.
            webhook_service.staging.stage_job_event(session, job=job, event_type="job.running")
        return LeaseClaim(job=job)

    def _keep_waiting(
        self,
        session: Session,
        *,
        job_id: str,
        seen: tuple[datetime, datetime | None],
        now: datetime,
        grace: timedelta,
    ) -> None:
        """Tell the sweeper a deferred job waits (it has not lost its message) once it would judge
        it within half a claim timeout; a young job is left alone, so most deferrals write nothing."""
        created_at, lease_until = seen
        # When the sweeper would look: at the note a re-stage or deferral left, else a claim
        # timeout after the job was created.
        next_look = (
            _aware(lease_until, now) or created_at.replace(tzinfo=created_at.tzinfo or now.tzinfo) + grace
        )
        if next_look < now + grace / 2:
            job_repository.keep_waiting(session, job_id=job_id, until=now + grace)

    def renew_lease(self, session: Session, *, job_id: str, owner: str) -> bool:
        """Extend ``owner``'s lease on a running job; False when it no longer holds it (taken over,
        canceled, ended). Committed with the caller's transaction, which then holds the row."""
        # The owner names one delivery of one job: its lease is the job's.
        until = utcnow() + timedelta(seconds=get_settings().job_lease_seconds)
        return job_repository.renew_leases(session, owners=[owner], until=until) > 0

    def renew_leases(self, session: Session, *, owners: Sequence[str]) -> int:
        """Extend every lease ``owners`` hold (a worker process's heartbeat); how many are still held."""
        until = utcnow() + timedelta(seconds=get_settings().job_lease_seconds)
        return job_repository.renew_leases(session, owners=owners, until=until)

    def release_lease(self, session: Session, *, job_id: str, owner: str, seconds: float) -> bool:
        """Let go of a job that goes on in another message (a retry, an async poll chain); the
        sweeper re-stages it if no worker claimed it within ``seconds``."""
        until = utcnow() + timedelta(seconds=seconds)
        return job_repository.release_lease(session, job_id=job_id, owner=owner, until=until)

    def set_progress(self, session: Session, *, job_id: str, progress: float, message: str) -> bool:
        """Record progress; False when the job is no longer running (canceled meanwhile)."""
        moved = job_repository.set_status_if(
            session,
            job_id=job_id,
            expected=[JobStatus.running],
            status=JobStatus.running,
            progress=progress,
            progress_message=message,
        )
        if moved:
            job_repository.add_event(
                session, job_id=job_id, type="job.progress", data={"progress": progress, "message": message}
            )
        return moved

    def hold_running(self, session: Session, *, job_id: str) -> bool:
        """Lock a running job's row until the caller commits; False when it is no longer running.

        A worker records each output under this guard, so a cancel or failure (a conditional
        UPDATE of the same row) either comes after the output, and withdraws it, or before, and
        the output is never recorded.
        """
        return job_repository.set_status_if(
            session, job_id=job_id, expected=[JobStatus.running], status=JobStatus.running
        )

    def annotate(self, session: Session, *, job_id: str, key: str, value: Any) -> None:
        """Record a worker's summary under ``params[key]`` (a create job's per-image ``results``)."""
        job = job_repository.get(session, job_id, for_update=True)
        if job is not None:
            job.params = {**job.params, key: value}  # a new dict: JSON columns track reassignment only

    def record_prepared(
        self,
        session: Session,
        *,
        job_id: str,
        params: dict[str, Any],
        inputs: Mapping[str, str],
        sizes: Mapping[str, tuple[int, int]],
        cost: int,
    ) -> bool:
        """A job given images by URL, prepared by its worker: the params ``prepare`` made, the fetched
        images' keys and checked sizes, and its hold brought to ``cost`` (the rest released now).

        False when the job is no longer running (canceled meanwhile); raises ``PaymentRequired``
        when ``cost`` is above what the gateway held and the tenant cannot afford the difference
        (the caller rolls back; the job then fails, everything released).
        """
        if not self.hold_running(session, job_id=job_id):
            return False
        job = job_repository.get(session, job_id)
        assert job is not None
        if UNPREPARED_REQUEST not in job.params:
            return True  # an earlier delivery recorded it (its commit raced this one's start)
        released = credit_service.reprice(session, tenant_id=job.tenant_id, job_id=job_id, cost=cost)
        if released > 0:
            CREDITS_REFUNDED.labels(job.studio).inc(released)
        checked = {**dict(job.inputs.get(CHECKED_SIZES) or {}), **{n: list(s) for n, s in sizes.items()}}
        job.inputs = {**job.inputs, **inputs, CHECKED_SIZES: checked}  # new dicts: JSON columns
        job.params = params  # track reassignment only
        log.info("job.prepared", job_id=job_id, cost=cost, released=released)
        return True

    def for_worker(self, session: Session, *, job_id: str, lock: bool = False) -> Job | None:
        """A job by id for a worker outside ``claim`` (async polls read and advance ``params.pending``)."""
        return job_repository.get(session, job_id, for_update=lock)

    def succeed(self, session: Session, *, job_id: str) -> bool:
        moved = job_repository.set_status_if(
            session,
            job_id=job_id,
            expected=[JobStatus.running],
            status=JobStatus.succeeded,
            progress=1.0,
            progress_message="done",
            error=None,
        )
        if moved:
            job = job_repository.get(session, job_id)
            assert job is not None
            captures = [
                (asset.name, int(asset.meta.get("credits", 0)))
                for asset in asset_service.for_job(session, job_id=job_id)
            ]
            credit_service.free_slot(session, tenant_id=job.tenant_id)
            charged, released = credit_service.settle(
                session, tenant_id=job.tenant_id, job_id=job_id, captures=captures
            )
            CREDITS_CAPTURED.labels(job.studio).inc(charged)
            CREDITS_REFUNDED.labels(job.studio).inc(released)
            if job.output_retention_seconds is not None:  # the request's output_retention_seconds
                job_repository.schedule_output_deletion(
                    session, job_id=job_id, at=utcnow() + timedelta(seconds=job.output_retention_seconds)
                )
            job_repository.add_event(
                session, job_id=job_id, type="job.succeeded", data={"status": "succeeded"}
            )
            webhook_service.staging.stage_job_event(session, job=job, event_type="job.succeeded")
        return moved

    def fail(self, session: Session, *, job_id: str, problem: dict[str, Any]) -> bool:
        moved = job_repository.set_status_if(
            session,
            job_id=job_id,
            expected=[JobStatus.queued, JobStatus.running],
            status=JobStatus.failed,
            error=problem,
        )
        if moved:
            job = job_repository.get(session, job_id)
            assert job is not None
            credit_service.free_slot(session, tenant_id=job.tenant_id)
            _, released = credit_service.settle(
                session, tenant_id=job.tenant_id, job_id=job_id
            )  # failures cost nothing
            CREDITS_REFUNDED.labels(job.studio).inc(released)
            asset_service.withdraw(session, job_id=job_id)  # and deliver nothing
            job_repository.add_event(
                session, job_id=job_id, type="job.failed", data={"status": "failed", "error": problem}
            )
            webhook_service.staging.stage_job_event(session, job=job, event_type="job.failed")
        return moved

    @staticmethod
    def _past_deadline(job: Job, now: datetime) -> bool:
        deadline = _aware(job.start_deadline, now)
        return job.status == JobStatus.queued and deadline is not None and deadline <= now

    def expire(self, session: Session, *, job_id: str) -> bool:
        """queued → expired (not started by its start deadline): credits released, slot freed, the
        ``job.expired`` event and webhook staged; False when it was no longer queued."""
        moved = job_repository.set_status_if(
            session, job_id=job_id, expected=[JobStatus.queued], status=JobStatus.expired
        )
        if moved:
            job = job_repository.get(session, job_id, fresh=True)
            assert job is not None
            credit_service.free_slot(session, tenant_id=job.tenant_id)
            _, released = credit_service.settle(session, tenant_id=job.tenant_id, job_id=job_id)
            CREDITS_REFUNDED.labels(job.studio).inc(released)
            deadline = job.start_deadline.isoformat() if job.start_deadline else None
            job_repository.add_event(
                session,
                job_id=job_id,
                type="job.expired",
                data={"status": "expired", "start_deadline": deadline},
            )
            webhook_service.staging.stage_job_event(session, job=job, event_type="job.expired")
        return moved

    def requeue_unfinished(self, session: Session) -> int:
        """Re-stage a message for every queued/running job (embedded start-up: its broker forgot)."""
        return self._restage(session, job_repository.unfinished(session))

    def requeue_queued(self, session: Session, *, studios: Sequence[str]) -> int:
        """Stage the message of every queued job of ``studios`` again (their queue was re-created);
        a duplicate of a message still waiting is dropped by the claim. Committed; how many."""
        return self._restage(session, job_repository.queued_of(session, studios=studios))

    def _restage(self, session: Session, jobs: Sequence[Job]) -> int:
        """Stage each job's run message in the outbox again; committed; how many."""
        for job in jobs:
            queue_name, actor_name, kwargs, options = run_job_message(job)
            outbox_service.add(
                session, queue_name=queue_name, actor_name=actor_name, kwargs=kwargs, options=options
            )
        session.commit()
        return len(jobs)

    def input_keys_in_use(self, session: Session, *, tenant_id: str | None = None) -> set[str]:
        """Storage keys a queued or running job still reads (objects a sweeper must spare)."""
        return {
            key
            for inputs in job_repository.unfinished_inputs(session, tenant_id=tenant_id)
            for key in (inputs or {}).values()
            if isinstance(key, str)
        }
