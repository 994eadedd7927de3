"""The job state machine: submit, read, cancel, and the worker-side transitions.

queued → running → succeeded | failed | canceled. Every transition is a conditional UPDATE
(from the expected states only), so a late worker cannot resurrect a canceled job and a
redelivered message cannot finish a job twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.broker import RUN_JOB_ACTORS, Queue
from imagestudio.config import get_settings
from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import new_id, utcnow
from imagestudio.errors import Conflict, ImageStudioError, NotFound
from imagestudio.jobs.models import Job, JobEvent, JobStatus
from imagestudio.jobs.repository import job_repository
from imagestudio.jobs.schemas import JobLinks, JobPage, JobRead
from imagestudio.outbox import notify, outbox_service
from imagestudio.paging import decode_cursor, encode_cursor
from imagestudio.storage import get_store, input_key
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import CREDITS_CAPTURED, CREDITS_REFUNDED
from imagestudio.webhooks.schemas import JobWebhookCreate
from imagestudio.webhooks.service import webhook_service

log = get_logger(__name__)

API_PREFIX = "/api/image-studio"


@dataclass(frozen=True)
class Upload:
    """An upload the gateway validated; stored before the job's message can be sent."""

    field: str
    data: bytes
    ext: str
    content_type: str


@dataclass(frozen=True)
class JobDraft:
    """One job to submit: what ``JobService.submit`` takes, as a value (batches submit many).

    ``uploads`` are bytes the gateway still has to store; ``inputs`` are objects already in
    storage (an upload id resolved to its key), by field name.
    """

    studio: str
    params: dict[str, Any]
    uploads: Sequence[Upload] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    cost: int = 0
    provider: str | None = None
    batch: int | None = None
    webhook: JobWebhookCreate | None = None


def _links(job_id: str) -> JobLinks:
    return JobLinks(self=f"{API_PREFIX}/jobs/{job_id}", cancel=f"{API_PREFIX}/jobs/{job_id}/cancel")


class JobService:
    # --- gateway side -----------------------------------------------------------------------
    def submit(
        self,
        session: Session,
        *,
        tenant_id: str,
        studio: str,
        params: dict[str, Any],
        uploads: Sequence[Upload] = (),
        inputs: Mapping[str, str] | None = None,
        cost: int = 0,
        provider: str | None = None,
        batch: int | None = None,
        webhook: JobWebhookCreate | None = None,
    ) -> Job:
        """Check the tier, store the uploads, then commit the job, its credit reserve and its message together."""
        tier = tier_service.check_submission(
            session, tenant_id=tenant_id, studio=studio, provider=provider, batch=batch
        )
        if cost > credit_service.balance(session, tenant_id=tenant_id).available:
            # Refuse early, before any upload is stored; the reserve below is the authoritative check.
            credit_service.reserve(session, tenant_id=tenant_id, job_id="-", amount=cost)
        session.rollback()
        job_id = new_id()
        store = get_store()
        inputs = dict(inputs or {})
        stored: list[str] = []
        for upload in uploads:
            key = input_key(tenant_id, job_id, upload.field, upload.ext)
            store.put(key, upload.data, content_type=upload.content_type)
            inputs[upload.field] = key
            stored.append(key)
        job = Job(
            id=job_id,
            tenant_id=tenant_id,
            studio=studio,
            status=JobStatus.queued,
            params=params,
            inputs=inputs,
            max_attempts=get_settings().job_max_attempts,
        )
        try:
            # The reserve locks the tenant, so the concurrency count below cannot race.
            credit_service.reserve(session, tenant_id=tenant_id, job_id=job_id, amount=cost)
            tier_service.check_concurrency(
                tier=tier, active=job_repository.active_count(session, tenant_id=tenant_id)
            )
            session.add(job)
            session.flush()
            job_repository.add_event(session, job_id=job_id, type="job.queued", data={"status": "queued"})
            if webhook is not None:
                webhook_service.subscribe_job(session, tenant_id=tenant_id, job_id=job_id, webhook=webhook)
            # Webhook deliveries ride the outbox too: committed with the transition or not at all.
            webhook_service.stage_job_event(session, job=job, event_type="job.queued")
            outbox_service.add(
                session,
                queue_name=Queue(studio).value,
                actor_name=RUN_JOB_ACTORS[studio],
                kwargs={"job_id": job_id, "inputs": inputs},
            )
            session.commit()
        except BaseException:
            session.rollback()
            for key in stored:  # no job row: the uploads would be orphans
                store.delete(key)
            raise
        notify()
        log.info("job.accepted", job_id=job_id, tenant_id=tenant_id, studio=studio)
        return job

    def submit_many(
        self, session: Session, *, tenant_id: str, drafts: Sequence[JobDraft]
    ) -> list[Job | ImageStudioError]:
        """Submit several jobs; one entry per draft: its job, or the error that refused it.

        A refused draft is never charged and never enqueued; the others are accepted.
        """
        results: list[Job | ImageStudioError] = []
        for draft in drafts:
            try:
                results.append(
                    self.submit(
                        session,
                        tenant_id=tenant_id,
                        studio=draft.studio,
                        params=draft.params,
                        uploads=draft.uploads,
                        inputs=draft.inputs,
                        cost=draft.cost,
                        provider=draft.provider,
                        batch=draft.batch,
                        webhook=draft.webhook,
                    )
                )
            except ImageStudioError as exc:
                results.append(exc)
        return results

    def get(self, session: Session, *, tenant_id: str, job_id: str) -> Job:
        job = job_repository.get_for_tenant(session, tenant_id=tenant_id, job_id=job_id)
        if job is None:  # another tenant's job is indistinguishable from a missing one
            raise NotFound(f"No job {job_id}")
        return job

    def read(self, session: Session, *, tenant_id: str, job_id: str) -> JobRead:
        return self.to_read(session, [self.get(session, tenant_id=tenant_id, job_id=job_id)])[0]

    def to_read(self, session: Session, jobs: Sequence[Job]) -> list[JobRead]:
        # A queued job has never run, so it has no outputs: the 202 path skips the query.
        outputs = asset_service.outputs_for_jobs(
            session, job_ids=[j.id for j in jobs if j.status != JobStatus.queued]
        )
        return [
            JobRead(
                id=job.id,
                status=JobStatus(job.status),
                studio=job.studio,
                created_at=job.created_at,
                started_at=job.started_at,
                finished_at=job.finished_at,
                updated_at=job.updated_at,
                progress=job.progress,
                progress_message=job.progress_message,
                attempts=job.attempts,
                params=job.params,
                error=job.error,
                outputs=outputs.get(job.id, []),
                links=_links(job.id),
            )
            for job in jobs
        ]

    def page(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        studio: str | None,
        status: str | None,
        cursor: str | None,
    ) -> JobPage:
        before = decode_cursor(cursor) if cursor else None
        jobs = job_repository.page(
            session, tenant_id=tenant_id, limit=limit + 1, studio=studio, status=status, before=before
        )
        more = len(jobs) > limit
        jobs = jobs[:limit]
        return JobPage(
            items=self.to_read(session, jobs),
            next_cursor=encode_cursor(jobs[-1].created_at, jobs[-1].id) if more and jobs else None,
        )

    def cancel(self, session: Session, *, tenant_id: str, job_id: str) -> Job:
        job = self.get(session, tenant_id=tenant_id, job_id=job_id)
        moved = job_repository.set_status_if(
            session,
            job_id=job.id,
            expected=[JobStatus.queued, JobStatus.running],
            status=JobStatus.canceled,
        )
        if not moved:
            session.rollback()
            session.refresh(job)
            raise Conflict(f"Job {job_id} is already {job.status}")
        _, released = credit_service.settle(session, tenant_id=job.tenant_id, job_id=job.id)
        CREDITS_REFUNDED.labels(job.studio).inc(released)
        job_repository.add_event(session, job_id=job.id, type="job.canceled", data={"status": "canceled"})
        webhook_service.stage_job_event(session, job=job, event_type="job.canceled")
        session.commit()
        session.refresh(job)
        log.info("job.canceled", job_id=job.id)
        return job

    def events_after(
        self, session: Session, *, cursors: Mapping[str, int], limit: int = 1000
    ) -> Sequence[JobEvent]:
        """Events of several jobs, each after its own last-seen id, oldest first (live event streams)."""
        return job_repository.events_after(session, cursors=cursors, limit=limit)

    # --- worker side --------------------------------------------------------------------------
    def claim(self, session: Session, *, job_id: str) -> Job | None:
        """Mark a job running for this delivery; None when it is finished (nothing to do)."""
        job = job_repository.get(session, job_id, for_update=True)
        if job is None:
            log.warning("job.missing", job_id=job_id)
            return None
        if JobStatus(job.status).terminal:
            log.info("job.already_finished", job_id=job_id, status=job.status)
            return None
        job.attempts += 1
        job.status = JobStatus.running
        job.started_at = job.started_at or utcnow()
        job.updated_at = utcnow()
        job_repository.add_event(
            session, job_id=job_id, type="job.running", data={"status": "running", "attempt": job.attempts}
        )
        webhook_service.stage_job_event(session, job=job, event_type="job.running")
        return job

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

    def annotate(self, session: Session, *, job_id: str, key: str, value: Any) -> None:
        """Record a worker's summary under ``params[key]`` (a create job's per-image ``results``)."""
        job = job_repository.get(session, job_id, for_update=True)
        if job is not None:
            job.params = {**job.params, key: value}  # a new dict: JSON columns track reassignment only

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
            charged, released = credit_service.settle(
                session, tenant_id=job.tenant_id, job_id=job_id, captures=captures
            )
            CREDITS_CAPTURED.labels(job.studio).inc(charged)
            CREDITS_REFUNDED.labels(job.studio).inc(released)
            job_repository.add_event(
                session, job_id=job_id, type="job.succeeded", data={"status": "succeeded"}
            )
            webhook_service.stage_job_event(session, job=job, event_type="job.succeeded")
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
            _, released = credit_service.settle(
                session, tenant_id=job.tenant_id, job_id=job_id
            )  # failures cost nothing
            CREDITS_REFUNDED.labels(job.studio).inc(released)
            job_repository.add_event(
                session, job_id=job_id, type="job.failed", data={"status": "failed", "error": problem}
            )
            webhook_service.stage_job_event(session, job=job, event_type="job.failed")
        return moved

    def requeue_unfinished(self, session: Session) -> int:
        """Re-stage a message for every queued/running job (embedded start-up: its broker forgot)."""
        jobs = job_repository.unfinished(session)
        for job in jobs:
            outbox_service.add(
                session,
                queue_name=Queue(job.studio).value,
                actor_name=RUN_JOB_ACTORS[job.studio],
                kwargs={"job_id": job.id, "inputs": job.inputs},
            )
        session.commit()
        notify()
        return len(jobs)

    def input_keys_in_use(self, session: Session, *, tenant_id: str | None = None) -> set[str]:
        """Storage keys a queued or running job still reads (objects a sweeper must spare)."""
        return {
            key
            for inputs in job_repository.unfinished_inputs(session, tenant_id=tenant_id)
            for key in (inputs or {}).values()
            if isinstance(key, str)
        }


job_service = JobService()
