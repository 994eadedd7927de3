"""The job state machine: submit, read, cancel, and the worker-side transitions.

queued → running → succeeded | failed | canceled, and queued → expired (past its start deadline). Every transition is a conditional UPDATE
(from the expected states only), so a late worker cannot resurrect a canceled job and a
redelivered message cannot finish a job twice.

Over 600 lines on purpose: the two submission paths (``submit_many`` in a worker thread, and
``submit_on_loop`` from the gateway's event loop) share the job's construction and the plan check,
and keeping them in one class keeps their guarantees read side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import TenantLimits, tier_service
from imagestudio.db import AsyncConnections, is_postgres, new_id, utcnow
from imagestudio.errors import (
    ConcurrencyLimited,
    Conflict,
    ImageStudioError,
    NotFound,
    PaymentRequired,
    StorageQuotaExceeded,
)
from imagestudio.idempotency.service import IdempotencyClaim, StoredResponse, idempotency_service
from imagestudio.jobs.models import CHECKED_SIZES, SOURCE_NAMES, Job, JobEvent, JobStatus
from imagestudio.jobs.repository import job_repository
from imagestudio.jobs.schemas import JobLinks, JobPage, JobRead, QueuePlace
from imagestudio.jobs.submission_groups import SubmissionGroups
from imagestudio.jobs.transitions import JobTransitions, run_job_message
from imagestudio.messaging import PRIORITY_RANKS, Priority, priority_of_rank
from imagestudio.outbox.notifier import LoopNotifier
from imagestudio.outbox.service import outbox_service
from imagestudio.paging import read_page
from imagestudio.storage import get_store, input_key
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import CREDITS_REFUNDED
from imagestudio.urls import job_cancel_path, job_path
from imagestudio.webhooks.schemas import JobWebhookCreate
from imagestudio.webhooks.service import webhook_service

log = get_logger(__name__)


@dataclass(frozen=True)
class Upload:
    """An upload the gateway validated; stored before the job's message can be sent."""

    field: str
    data: bytes
    ext: str
    content_type: str
    #: The client's file name, cleaned (None when it sent none).
    filename: str | None = None

    @property
    def size_bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class JobDraft:
    """One job to submit: what ``JobService.submit`` takes, as a value (batches submit many).

    ``uploads`` are bytes the gateway still has to store; ``inputs`` are objects already in
    storage (an upload id resolved to its key), by field name; ``sizes`` the (width, height) the
    gateway read from each image's header, which the worker holds the object to.
    """

    studio: str
    params: dict[str, Any]
    uploads: Sequence[Upload] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    cost: int = 0
    provider: str | None = None
    batch: int | None = None
    webhook: JobWebhookCreate | None = None
    #: The job ends ``expired`` unless a worker starts it by then.
    start_deadline: datetime | None = None
    #: Queued jobs of a higher priority start first (the tier says which a tenant may ask for).
    priority: Priority = Priority.normal
    #: Its outputs are deleted this long after it succeeds (bounded by the tier); None: kept.
    output_retention_seconds: int | None = None
    #: The client's file name of each image input, by field.
    source_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job just drafted, as plain values: what the submission statement, the job's message and the
    202 read of a new ``Job`` (the event loop's submission builds no ORM object only to read it back).

    Like a ``Job`` it is a ``NewJob``, what ``job_repository.submission_params`` and
    ``run_job_message`` read; a new job's other columns are constants (queued, no progress, no
    attempts, nothing run)."""

    id: str
    tenant_id: str
    studio: str
    params: dict[str, Any]
    inputs: dict[str, Any]
    max_attempts: int
    created_at: datetime
    start_deadline: datetime | None
    priority: int
    output_retention_seconds: int | None

    @property
    def updated_at(self) -> datetime:
        return self.created_at

    def as_job(self) -> Job:
        """The ORM row of this job (the thread's submission adds it to its session)."""
        return Job(
            id=self.id,
            tenant_id=self.tenant_id,
            studio=self.studio,
            status=JobStatus.queued.value,
            params=self.params,
            inputs=self.inputs,
            progress=0.0,
            progress_message="",
            error=None,
            attempts=0,
            restages=0,
            max_attempts=self.max_attempts,
            created_at=self.created_at,
            started_at=None,
            finished_at=None,
            updated_at=self.created_at,
            start_deadline=self.start_deadline,
            priority=self.priority,
            output_retention_seconds=self.output_retention_seconds,
            outputs_expire_at=None,
            outputs_deleted_at=None,
        )


def _links(job_id: str) -> JobLinks:
    return JobLinks(self=job_path(job_id), cancel=job_cancel_path(job_id))


def _check_plan(limits: TenantLimits, draft: JobDraft) -> None:
    """Refuse (403, naming the limit) a draft the tenant's plan does not include."""
    tier_service.check_plan(
        limits.tier,
        studio=draft.studio,
        provider=draft.provider,
        batch=draft.batch,
        priority=draft.priority,
        output_retention_seconds=draft.output_retention_seconds,
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    """A submission from the loop waiting for its statement: the job, its message row and its cost."""

    job: QueuedJob
    message: dict[str, Any]
    cost: int
    #: The tenant and the limits its statement checks (a group shares them).
    key: tuple[str, int, int]


class JobService(JobTransitions):
    """Jobs as the gateway sees them (submit, read, cancel); the worker side comes from :class:`JobTransitions`."""

    def __init__(self) -> None:
        #: Per pool of async connections (one per gateway loop), the tenants' statements in flight.
        self._groups: WeakKeyDictionary[AsyncConnections, SubmissionGroups[_Pending]] = WeakKeyDictionary()

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
        idempotency: IdempotencyClaim | None = None,
    ) -> Job:
        """Check the plan, store the uploads, then commit the job with its message, reserve and key.

        Raises the error that refused it (403 plan, 422 storage quota, 402 credits, 429 concurrency); under a key a
        racing request already answered, ``IdempotentReplay`` carrying that answer.
        """
        draft = JobDraft(
            studio=studio,
            params=params,
            uploads=uploads,
            inputs=inputs or {},
            cost=cost,
            provider=provider,
            batch=batch,
            webhook=webhook,
        )
        return self.submit_draft(session, tenant_id=tenant_id, draft=draft, idempotency=idempotency)

    def submit_draft(
        self,
        session: Session,
        *,
        tenant_id: str,
        draft: JobDraft,
        idempotency: IdempotencyClaim | None = None,
    ) -> Job:
        """``submit`` for a draft a studio route built; raises the error that refused it."""
        result = self.submit_many(session, tenant_id=tenant_id, drafts=[draft], idempotency=idempotency)[0]
        if isinstance(result, ImageStudioError):
            raise result
        return result

    async def submit_on_loop(
        self,
        connections: AsyncConnections,
        session: Session,
        *,
        tenant_id: str,
        draft: JobDraft,
        notifier: LoopNotifier,
    ) -> QueuedJob | None:
        """``submit_draft`` from the event loop for the common case; None when it is not that case.

        The case: nothing to store, no webhook (the job's or the tenant's), the tenant's limits,
        monthly grant and endpoints known to this process. ``session`` is a ``CacheOnlySession``:
        a step that would query raises ``NeedsDatabase``, and the caller submits in a thread
        instead. The job, its event, message and reserve commit in the one pipelined statement on
        an async connection (the same guarantees as ``_commit_in_one_statement``), with those of
        the tenant's submissions that arrived while its previous statement was in flight
        (``submission_groups``: they would have queued on its account row). Refused by the
        account (402, 429, storage quota): None, nothing written, and the thread path, which
        reads the balance to explain the refusal, answers it. ``notifier`` wakes the relays after
        the commit, from the loop.
        """
        if draft.uploads or draft.webhook is not None:
            return None
        limits = tier_service.limits_of(session, tenant_id=tenant_id)
        _check_plan(limits, draft)
        credit_service.grant_month(session, tenant_id=tenant_id, tier=limits.tier.name)
        if webhook_service.staging.may_have_endpoints(session, tenant_id=tenant_id):
            return None
        job = self._queued(tenant_id, draft)
        # The message row is built here, in the request's context (its trace); the tenant's other
        # submissions in flight meanwhile may carry it in their statement (``submission_groups``).
        (message,) = outbox_service.rows([run_job_message(job)])
        groups = self._groups.get(connections)
        if groups is None:
            groups = self._groups[connections] = SubmissionGroups(partial(self._send_group, connections))
        key = (tenant_id, limits.max_concurrent_jobs, limits.max_stored_bytes)
        accepted = await groups.submit(key, _Pending(job, message, draft.cost, key))
        if not accepted:
            return None
        outbox_service.committed_on_loop(notifier)  # the relays' wake, sent from the loop
        log.info("job.accepted", job_id=job.id, tenant_id=tenant_id, studio=job.studio)
        return job

    async def _send_group(self, connections: AsyncConnections, group: Sequence[_Pending]) -> bool:
        """One statement for a tenant's submissions gathered on the loop: all accepted, or none written."""
        tenant_id, max_active, max_stored_bytes = group[0].key
        params = job_repository.submission_params(
            tenant_id=tenant_id,
            jobs=[p.job for p in group],
            messages=[p.message for p in group],
            holds=[(p.job.id, p.cost) for p in group],
            max_active=max_active,
            max_stored_bytes=max_stored_bytes,
        )
        async with connections.connection() as conn:
            return await job_repository.insert_submission_async(conn, params)

    def _accepted(self, results: Sequence[Job | ImageStudioError]) -> StoredResponse:
        """The 202 a single submission answers, as stored for Idempotency-Key replays."""
        job = results[0]
        assert isinstance(job, Job)
        body = self.to_read(None, [job])[0]
        return StoredResponse(202, body.model_dump(mode="json"), {"Location": body.links.self})

    def submit_many(
        self,
        session: Session,
        *,
        tenant_id: str,
        drafts: Sequence[JobDraft],
        idempotency: IdempotencyClaim | None = None,
        respond: Callable[[Sequence[Job | ImageStudioError]], StoredResponse] | None = None,
    ) -> list[Job | ImageStudioError]:
        """Submit jobs; one entry per draft, in order: its job, or the error that refused it.

        A refused draft is never charged, stored or enqueued. The accepted ones commit in one
        transaction with their events, messages, credit reserve and (with ``idempotency``) the
        response ``respond`` renders for replays. The credit and concurrency check is one
        conditional UPDATE of the tenant's account (which also refuses a tenant at its storage
        quota: its outputs would not fit), late in the transaction, so a tenant's
        parallel submissions hold its row only from that statement to the commit. When a batch
        does not fit as a whole, each draft is tried alone and those that fit are accepted (the key
        claimed first: see ``_commit_each``).
        """
        limits = tier_service.limits_of(session, tenant_id=tenant_id)
        results: list[Job | ImageStudioError | None] = [None] * len(drafts)
        for i, draft in enumerate(drafts):
            try:
                _check_plan(limits, draft)
            except ImageStudioError as exc:
                results[i] = exc
        todo = [i for i, r in enumerate(results) if r is None]
        if respond is None and not todo:
            # Refused by the plan, and the default answer renders jobs only: the refusal is raised
            # with nothing written, its Idempotency-Key not recorded (as after a 402 or a 429).
            return [r for r in results if r is not None]
        paid = sum(drafts[i].cost for i in todo)
        if paid > 0 and any(drafts[i].uploads for i in todo):
            # Refuse what cannot be afforded before storing anything; the reserve stays the real check.
            credit_service.grant_month(session, tenant_id=tenant_id, tier=limits.tier.name)
            available = credit_service.balance(session, tenant_id=tenant_id).available
            if paid > available and len(todo) == 1:
                results[todo[0]] = credit_service.refusal(session, tenant_id=tenant_id, amount=paid)
                todo = []
        if session.in_transaction() and not is_postgres(session):
            session.rollback()  # SQLite: hold no write lock while the uploads are stored
        jobs = {i: self._new_job(tenant_id, drafts[i]) for i in todo}
        stored = self._store_uploads(tenant_id, {i: (jobs[i], drafts[i]) for i in todo})
        render = respond or self._accepted

        def record_key(session: Session) -> None:
            assert idempotency is not None
            final: list[Job | ImageStudioError] = [jobs[i] if r is None else r for i, r in enumerate(results)]
            idempotency_service.record(session, claim=idempotency, response=render(final))

        whole = True
        try:
            try:
                # No key to record: None, so that the one statement may carry the COMMIT.
                self._commit(
                    session,
                    tenant_id,
                    [(jobs[i], drafts[i]) for i in todo],
                    limits,
                    record_key if idempotency is not None else None,
                )
            except (PaymentRequired, ConcurrencyLimited, StorageQuotaExceeded):
                session.rollback()
                if len(todo) == 1:
                    raise
                whole = False
        except IntegrityError:
            session.rollback()
            for keys in stored.values():
                self._discard(keys)
            if idempotency is None:
                raise
            raise idempotency_service.replay_after_race(session, claim=idempotency) from None
        except BaseException:
            session.rollback()
            for keys in stored.values():  # no job row: the uploads would be orphans
                self._discard(keys)
            raise
        if not whole:
            self._commit_each(
                session,
                tenant_id,
                {i: (jobs[i], drafts[i]) for i in todo},
                stored=stored,
                limits=limits,
                results=results,
                idempotency=idempotency,
                render=render,
            )
        answers: list[Job | ImageStudioError] = []
        for i, result in enumerate(results):
            if result is None or result is jobs.get(i):
                log.info("job.accepted", job_id=jobs[i].id, tenant_id=tenant_id, studio=jobs[i].studio)
                answers.append(jobs[i])
            else:
                answers.append(result)
        return answers

    def _commit_each(
        self,
        session: Session,
        tenant_id: str,
        todo: Mapping[int, tuple[Job, JobDraft]],
        *,
        stored: Mapping[int, Sequence[str]],
        limits: TenantLimits,
        results: list[Job | ImageStudioError | None],
        idempotency: IdempotencyClaim | None,
        render: Callable[[Sequence[Job | ImageStudioError]], StoredResponse],
    ) -> None:
        """The batch does not fit whole: accept, one by one, the drafts that do; ``results`` filled in.

        Under an Idempotency-Key the key is claimed, committed alone, before the first of them: an
        identical batch racing this one then answers with this one's answer (409 while it runs)
        instead of making a second set of jobs and charging them again.
        """
        if idempotency is not None:
            try:
                idempotency_service.claim(session, claim=idempotency)
            except BaseException:
                for keys in stored.values():
                    self._discard(keys)
                raise
        committed: set[int] = set()
        try:
            for i, (job, draft) in todo.items():
                try:
                    self._commit(session, tenant_id, [(job, draft)], limits, None)
                    results[i] = job
                    committed.add(i)
                except (PaymentRequired, ConcurrencyLimited, StorageQuotaExceeded) as exc:
                    session.rollback()
                    results[i] = exc
                    self._discard(stored.get(i, []))
            if idempotency is not None:
                final = [r for r in results if r is not None]
                idempotency_service.complete(session, claim=idempotency, response=render(final))
                session.commit()
        except BaseException:
            session.rollback()
            for i, keys in stored.items():
                if i not in committed:  # a committed job's inputs are its own now
                    self._discard(keys)
            if idempotency is not None and not committed:
                self._release_quietly(session, idempotency)
            # Jobs committed: the key stays ``processing`` (409) rather than let a retry make them again.
            raise

    def _release_quietly(self, session: Session, claim: IdempotencyClaim) -> None:
        """Free a claimed key after a failure that committed nothing; a failure to do so is logged."""
        try:
            idempotency_service.release(session, claim=claim)
        except Exception as exc:  # the database is failing already: the key answers 409 until its TTL
            session.rollback()
            log.warning("idempotency.release_failed", key=claim.key, error=repr(exc))

    def _new_job(self, tenant_id: str, draft: JobDraft) -> Job:
        return self._queued(tenant_id, draft).as_job()

    def _queued(self, tenant_id: str, draft: JobDraft) -> QueuedJob:
        return QueuedJob(
            id=new_id(),
            tenant_id=tenant_id,
            studio=draft.studio,
            params=draft.params,
            inputs={
                **draft.inputs,
                **(
                    {CHECKED_SIZES: {n: list(size) for n, size in draft.sizes.items()}} if draft.sizes else {}
                ),
                **({SOURCE_NAMES: dict(draft.source_names)} if draft.source_names else {}),
            },
            max_attempts=get_settings().job_max_attempts,
            created_at=utcnow(),
            start_deadline=draft.start_deadline,
            priority=PRIORITY_RANKS[draft.priority],
            output_retention_seconds=draft.output_retention_seconds,
        )

    def _store_uploads(
        self, tenant_id: str, todo: Mapping[int, tuple[Job, JobDraft]]
    ) -> dict[int, list[str]]:
        """Put each draft's upload bytes in storage under its job; returns the keys written per draft."""
        store = get_store() if any(d.uploads for _, d in todo.values()) else None
        written: dict[int, list[str]] = {}
        try:
            for i, (job, draft) in todo.items():
                for upload in draft.uploads:
                    assert store is not None
                    key = input_key(tenant_id, job.id, upload.field, upload.ext)
                    store.put(key, upload.data, content_type=upload.content_type)
                    job.inputs[upload.field] = key
                    written.setdefault(i, []).append(key)
        except BaseException:
            for keys in written.values():
                self._discard(keys)
            raise
        return written

    def _discard(self, keys: Sequence[str]) -> None:
        if keys:
            store = get_store()
            for key in keys:
                store.delete(key)

    def _commit(
        self,
        session: Session,
        tenant_id: str,
        pairs: Sequence[tuple[Job, JobDraft]],
        limits: TenantLimits,
        record_key: Callable[[Session], None] | None,
    ) -> None:
        """One transaction: jobs, events, webhooks, messages, then the reserve and the key; commit."""
        credit_service.grant_month(session, tenant_id=tenant_id, tier=limits.tier.name)
        # Without a key to record, the one statement carries the commit (see ``_commit_in_one_statement``).
        if pairs and self._commit_in_one_statement(
            session, tenant_id, pairs, limits, commit=record_key is None
        ):
            pass
        elif pairs:
            job_repository.insert_queued(session, [job for job, _ in pairs])
            for job, draft in pairs:
                if draft.webhook is not None:
                    webhook_service.endpoints.subscribe_job(
                        session, tenant_id=tenant_id, job_id=job.id, webhook=draft.webhook
                    )
                # Webhook deliveries ride the outbox too: committed with the transition or not at all.
                webhook_service.staging.stage_job_event(
                    session, job=job, event_type="job.queued", subscribed=draft.webhook is not None
                )
            outbox_service.add_many(
                session,
                [run_job_message(job) for job, _ in pairs],
            )
            credit_service.hold(
                session,
                tenant_id=tenant_id,
                holds=[(job.id, draft.cost) for job, draft in pairs],
                max_active=limits.max_concurrent_jobs,
                max_stored_bytes=limits.max_stored_bytes,
            )
        if record_key is not None:
            record_key(session)
        session.commit()

    def _commit_in_one_statement(
        self,
        session: Session,
        tenant_id: str,
        pairs: Sequence[tuple[Job, JobDraft]],
        limits: TenantLimits,
        *,
        commit: bool,
    ) -> bool:
        """PostgreSQL, no webhook receiver for the ``job.queued`` event: stage the submission in one
        statement (raises 402 / 429 when refused). False: take the general path.

        ``commit``: nothing else is to be written in the transaction, so the statement and the
        COMMIT go in one round trip; the caller's ``session.commit()`` then sends nothing."""
        if not is_postgres(session) or any(draft.webhook is not None for _, draft in pairs):
            return False
        if webhook_service.staging.may_have_endpoints(session, tenant_id=tenant_id):
            return False
        now = pairs[0][0].created_at
        for job, _ in pairs:  # one timestamp for the statement's rows
            job.created_at = job.updated_at = now
        params = job_repository.submission_params(
            tenant_id=tenant_id,
            jobs=[job for job, _ in pairs],
            messages=outbox_service.rows([run_job_message(job) for job, _ in pairs]),
            holds=[(job.id, draft.cost) for job, draft in pairs],
            max_active=limits.max_concurrent_jobs,
            max_stored_bytes=limits.max_stored_bytes,
        )
        accepted = job_repository.insert_submission_postgres(session, params, commit=commit)
        if not accepted:
            amount = sum(draft.cost for _, draft in pairs if draft.cost > 0)
            raise credit_service.refusal(
                session,
                tenant_id=tenant_id,
                amount=amount,
                max_active=limits.max_concurrent_jobs,
                max_stored_bytes=limits.max_stored_bytes,
            )
        outbox_service.wake_after_commit(session)
        return True

    def get(self, session: Session, *, tenant_id: str, job_id: str) -> Job:
        job = job_repository.get_for_tenant(session, tenant_id=tenant_id, job_id=job_id)
        if job is None:  # another tenant's job is indistinguishable from a missing one
            raise NotFound(f"No job {job_id}")
        return job

    def read(self, session: Session, *, tenant_id: str, job_id: str) -> JobRead:
        """The job as ``GET /jobs/{id}`` answers it: while queued, with its place in the queue."""
        job = self.get(session, tenant_id=tenant_id, job_id=job_id)
        body = self.to_read(session, [job])[0]
        place = self.queue_place(session, job=job)
        if place is not None:
            body = body.model_copy(update=place.model_dump())
        return body

    def queue_place(self, session: Session, *, job: Job) -> QueuePlace | None:
        """A queued job's place in its studio's queue and its estimated wait; None once it left the queue.

        Index-only counts: queued jobs of its studio ahead of it (of a higher priority, or of its
        own created before it), and jobs of its studio
        first started within ``JOB_START_RATE_WINDOW_SECONDS``. The estimate is the time that
        studio took lately to start as many jobs as are ahead of this one, plus its own start;
        None when none started in the window (a studio idle, or its workers away).
        """
        if job.status != JobStatus.queued:
            return None
        position = job_repository.queue_position(
            session, studio=job.studio, priority=job.priority, created_at=job.created_at, job_id=job.id
        )
        window = get_settings().job_start_rate_window_seconds
        started = job_repository.started_since(
            session, studio=job.studio, since=utcnow() - timedelta(seconds=window)
        )
        estimate = round((position + 1) * window / started, 1) if started else None
        return QueuePlace(queue_position=position, estimated_start_seconds=estimate)

    def queued_body(self, job: QueuedJob) -> bytes:
        """The JSON of ``to_read``'s answer for a job this process just queued, rendered in one
        call from its values without building the ``Job`` or the ``JobRead``.

        The 202 of the submission on the event loop: validating values the submission made and
        dumping them again was a share of the gateway's CPU per submission. Same keys in the same
        order, same values through the same serializer (pydantic-core's), so the same bytes: the
        lean path's tests compare this answer with the full route's."""
        return to_json(
            {
                "id": job.id,
                "status": JobStatus.queued.value,
                "studio": job.studio,
                "created_at": job.created_at,
                "started_at": None,
                "finished_at": None,
                "updated_at": job.updated_at,
                "progress": 0.0,
                "progress_message": "",
                "attempts": 0,
                "params": job.params,
                "error": None,
                "outputs": [],
                "source_names": dict(job.inputs.get(SOURCE_NAMES) or {}),
                "queue_position": None,
                "estimated_start_seconds": None,
                "start_deadline": job.start_deadline,
                "priority": priority_of_rank(job.priority).value,
                "output_retention_seconds": job.output_retention_seconds,
                "outputs_expire_at": None,
                "outputs_deleted_at": None,
                "links": {"self": job_path(job.id), "cancel": job_cancel_path(job.id)},
            }
        )

    def to_read(self, session: Session | None, jobs: Sequence[Job]) -> list[JobRead]:
        # A queued job has never run, so it has no outputs: the 202 path skips the query.
        ran = [j.id for j in jobs if j.status != JobStatus.queued]
        outputs = asset_service.outputs_for_jobs(session, job_ids=ran) if ran and session is not None else {}
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
                source_names=dict(job.inputs.get(SOURCE_NAMES) or {}),
                start_deadline=job.start_deadline,
                priority=priority_of_rank(job.priority),
                output_retention_seconds=job.output_retention_seconds,
                outputs_expire_at=job.outputs_expire_at,
                outputs_deleted_at=job.outputs_deleted_at,
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
        page, next_cursor = read_page(
            lambda rows, before: job_repository.page(
                session, tenant_id=tenant_id, limit=rows, studio=studio, status=status, before=before
            ),
            limit=limit,
            cursor=cursor,
        )
        return JobPage(items=self.to_read(session, page), next_cursor=next_cursor)

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
        credit_service.free_slot(session, tenant_id=job.tenant_id)
        _, released = credit_service.settle(session, tenant_id=job.tenant_id, job_id=job.id)
        CREDITS_REFUNDED.labels(job.studio).inc(released)
        asset_service.withdraw(session, job_id=job.id)  # nothing free: what it wrote is not served
        job_repository.add_event(session, job_id=job.id, type="job.canceled", data={"status": "canceled"})
        webhook_service.staging.stage_job_event(session, job=job, event_type="job.canceled")
        session.commit()
        session.refresh(job)
        log.info("job.canceled", job_id=job.id)
        return job

    def outputs_due(self, session: Session, *, now: datetime, limit: int) -> Sequence[str]:
        """Ids of jobs whose ``output_retention_seconds`` has passed, their outputs not yet deleted."""
        return job_repository.outputs_due(session, now=now, limit=limit)

    def mark_outputs_deleted(self, session: Session, *, job_id: str, now: datetime) -> None:
        """Record that the retention sweeper deleted the job's outputs (``outputs_deleted_at``)."""
        job_repository.mark_outputs_deleted(session, job_id=job_id, now=now)

    def events_after(
        self, session: Session, *, cursors: Mapping[str, int], limit: int = 1000
    ) -> Sequence[JobEvent]:
        """Events of several jobs, each after its own last-seen id, oldest first (live event streams)."""
        return job_repository.events_after(session, cursors=cursors, limit=limit)


job_service = JobService()
