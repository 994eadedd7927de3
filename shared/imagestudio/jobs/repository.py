"""SQL for jobs and job events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session, aliased

from imagestudio.db import is_postgres, table_of, update_rows, utcnow
from imagestudio.jobs.models import TERMINAL_STATUSES, Job, JobEvent, JobStatus, NewJob
from imagestudio.paging import newest_first

#: The submission as one PostgreSQL statement (see ``insert_submission_postgres``).
_SUBMISSION_SQL = """
WITH account AS (
    UPDATE credit_accounts
       SET reserved = reserved + :amount, active_jobs = active_jobs + :slots
     WHERE tenant_id = :tenant_id
       AND (:amount = 0 OR balance - reserved >= :amount)
       AND active_jobs + :slots <= :max_active
       AND NOT EXISTS (SELECT 1 FROM storage_accounts s
                        WHERE s.tenant_id = :tenant_id AND s.stored_bytes >= :max_stored_bytes)
    RETURNING tenant_id
), job_rows AS (
    INSERT INTO jobs (id, tenant_id, studio, status, params, inputs, progress, progress_message,
                      error, attempts, max_attempts, created_at, started_at, finished_at, updated_at,
                      start_deadline, priority, output_retention_seconds)
    SELECT j.id, a.tenant_id, j.studio, 'queued', j.params, j.inputs, 0, '', NULL, 0, j.max_attempts,
           j.created_at, NULL, NULL, j.created_at, j.start_deadline, j.priority, j.output_retention_seconds
      FROM account a,
           json_to_recordset(CAST(:jobs AS json))
               AS j(id varchar, studio varchar, params json, inputs json, max_attempts int, created_at timestamptz,
                    start_deadline timestamptz, priority int, output_retention_seconds int)
    RETURNING id, created_at
), events AS (
    INSERT INTO job_events (job_id, type, data, created_at)
    SELECT id, 'job.queued', CAST('{"status": "queued"}' AS json), created_at FROM job_rows
), messages AS (
    INSERT INTO outbox (message_id, queue_name, actor_name, kwargs, options, created_at, attempts)
    SELECT m.message_id, m.queue_name, m.actor_name, m.kwargs, m.options, :now, 0
      FROM account,
           json_to_recordset(CAST(:messages AS json))
               AS m(message_id varchar, queue_name varchar, actor_name varchar, kwargs json, options json)
), ledger AS (
    INSERT INTO credit_ledger (tenant_id, kind, balance_delta, reserved_delta, job_id, reference, note, created_at)
    SELECT a.tenant_id, 'reserve', 0, h.amount, h.job_id, 'job:' || h.job_id, '', :now
      FROM account a, json_to_recordset(CAST(:holds AS json)) AS h(job_id varchar, amount int)
)
SELECT count(*) FROM account
"""
#: Built once: ``text()`` parses the bind parameters of its SQL, a measurable share of a submission's CPU.
_SUBMISSION = text(_SUBMISSION_SQL)
#: The same statement for psycopg's own cursor (``%(name)s`` binds), sent in one pipeline with its COMMIT.
_SUBMISSION_DRIVER = str(_SUBMISSION.compile(dialect=psycopg_dialect()))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class JobShare:
    """A tenant's share of a worker pool: at most ``cap`` of its jobs run at once, counted in the
    job's studio (``per_studio``, one pool per studio) or in every studio (one pool for all)."""

    cap: int
    per_studio: bool = True


def _running_beside(share: JobShare, now: datetime) -> ScalarSelect[int]:
    """The number of jobs the tenant of the row at hand runs under a live lease, that row aside
    (in its studio, or in every studio): a subquery correlated to ``Job``."""
    other = aliased(Job)
    running = (
        select(func.count())
        .select_from(other)
        .where(
            other.tenant_id == Job.tenant_id,
            other.status == JobStatus.running.value,
            other.lease_owner.is_not(None),
            other.lease_until > now,
            other.id != Job.id,
        )
    )
    if share.per_studio:
        running = running.where(other.studio == Job.studio)
    return running.correlate(Job).scalar_subquery()


class JobRepository:
    def get_for_tenant(self, session: Session, *, tenant_id: str, job_id: str) -> Job | None:
        return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))

    def get(
        self, session: Session, job_id: str, *, for_update: bool = False, fresh: bool = False
    ) -> Job | None:
        """A job by id; ``fresh`` reloads it when this session already holds an older copy."""
        stmt = select(Job).where(Job.id == job_id)
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        if for_update and is_postgres(session):
            stmt = stmt.with_for_update()
        return session.scalar(stmt)

    def page(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        studio: str | None = None,
        status: str | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> Sequence[Job]:
        stmt: Select[Job] = select(Job).where(Job.tenant_id == tenant_id)
        if studio:
            stmt = stmt.where(Job.studio == studio)
        if status:
            stmt = stmt.where(Job.status == status)
        return session.scalars(
            newest_first(stmt, created_at=Job.created_at, row_id=Job.id, before=before, limit=limit)
        ).all()

    def set_status_if(
        self,
        session: Session,
        *,
        job_id: str,
        expected: Sequence[str],
        status: JobStatus,
        **values: object,
    ) -> bool:
        """Move a job to ``status`` only from one of ``expected``; False when another writer won."""
        now = utcnow()
        if status in TERMINAL_STATUSES:
            values.setdefault("finished_at", now)
            values.setdefault("lease_owner", None)  # an ended job has no worker holding it
            values.setdefault("lease_until", None)
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(list(expected)))
            .values(status=status.value, updated_at=now, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- leases -------------------------------------------------------------------------------
    def claim_lease(
        self,
        session: Session,
        *,
        job_id: str,
        owner: str,
        now: datetime,
        until: datetime,
        share: JobShare | None = None,
    ) -> bool:
        """One guarded UPDATE: queued → running under ``owner``'s lease, or a running job whose lease
        nobody holds (re-staged, parked) or has expired (its worker died); False when none of these.

        With ``share``, also only while the job's tenant runs fewer than ``share.cap`` other jobs
        under a live lease (in the job's studio, or in every studio); on PostgreSQL the claim first
        takes a transaction lock on that (tenant, studio) so two workers claiming at once cannot
        both pass the count (SQLite runs one writer at a time).
        """
        unfinished = or_(
            # A queued job past its start deadline is not started: the caller ends it expired.
            and_(
                Job.status == JobStatus.queued.value,
                or_(Job.start_deadline.is_(None), Job.start_deadline > now),
            ),
            and_(
                Job.status == JobStatus.running.value,
                or_(Job.lease_owner.is_(None), Job.lease_until.is_(None), Job.lease_until <= now),
            ),
        )
        conditions: list[ColumnElement[bool]] = [Job.id == job_id, unfinished]
        if share is not None:
            if is_postgres(session):
                scope = "jobs.tenant_id || '/' || jobs.studio" if share.per_studio else "jobs.tenant_id"
                session.execute(
                    text(
                        f"SELECT pg_advisory_xact_lock(hashtextextended({scope}, 0)) FROM jobs WHERE id = :id"
                    ),
                    {"id": job_id},
                )
            conditions.append(_running_beside(share, now) < share.cap)
        result = session.execute(
            update(Job)
            .where(*conditions)
            .values(
                status=JobStatus.running.value,
                lease_owner=owner,
                lease_until=until,
                attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def over_share(
        self, session: Session, *, job_id: str, share: JobShare, now: datetime
    ) -> tuple[datetime, datetime | None] | None:
        """One read, no lock: when the job waits for a claim and its tenant already runs
        ``share.cap`` jobs, its (``created_at``, ``lease_until``); else None. The claim's own
        guarded count decides; this spares most deferrals the claim's lock and writes."""
        claimable = or_(
            Job.status == JobStatus.queued.value,
            and_(
                Job.status == JobStatus.running.value,
                or_(Job.lease_owner.is_(None), Job.lease_until.is_(None), Job.lease_until <= now),
            ),
        )
        row = session.execute(
            select(Job.created_at, Job.lease_until).where(
                Job.id == job_id, claimable, _running_beside(share, now) >= share.cap
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    def keep_waiting(self, session: Session, *, job_id: str, until: datetime) -> None:
        """A job whose message was deferred (its tenant at its share) is waiting, not lost: the
        sweeper's next look at it moves to ``until``."""
        update_rows(
            session,
            Job,
            Job.id == job_id,
            Job.lease_owner.is_(None),
            Job.status.in_([JobStatus.queued.value, JobStatus.running.value]),
            lease_until=until,
        )

    def renew_leases(self, session: Session, *, owners: Sequence[str], until: datetime) -> int:
        """Extend the leases ``owners`` still hold on running jobs; how many they still hold."""
        if not owners:
            return 0
        return update_rows(
            session,
            Job,
            Job.lease_owner.in_(list(owners)),
            Job.status == JobStatus.running.value,
            lease_until=until,
        )

    def release_lease(self, session: Session, *, job_id: str, owner: str, until: datetime) -> bool:
        """``owner`` lets go of a running job; the sweeper looks at it again after ``until``."""
        held = (Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.running.value)
        return bool(update_rows(session, Job, *held, lease_owner=None, lease_until=until))

    def lost(
        self, session: Session, *, now: datetime, unclaimed_before: datetime, limit: int
    ) -> Sequence[Job]:
        """Unfinished jobs nobody works on: lease (or re-stage grace) past, or never claimed in time."""
        stmt = (
            select(Job)
            .where(
                Job.status.in_([JobStatus.queued.value, JobStatus.running.value]),
                or_(
                    Job.lease_until < now,
                    and_(Job.lease_until.is_(None), Job.created_at < unclaimed_before),
                ),
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
        if is_postgres(session):
            # Several relays sweep; SKIP LOCKED shares the rows out instead of queueing on them.
            stmt = stmt.with_for_update(skip_locked=True)
        return session.scalars(stmt).all()

    def past_deadline(self, session: Session, *, now: datetime, limit: int) -> Sequence[str]:
        """Ids of queued jobs whose start deadline has passed (on the partial deadline index)."""
        stmt = (
            select(Job.id)
            .where(
                Job.status == JobStatus.queued.value,
                Job.start_deadline.is_not(None),
                Job.start_deadline <= now,
            )
            .order_by(Job.start_deadline)
            .limit(limit)
        )
        return session.scalars(stmt).all()

    def queue_position(
        self, session: Session, *, studio: str, priority: int, created_at: datetime, job_id: str
    ) -> int:
        """Queued jobs of ``studio`` ahead of this one: those of a higher priority, and those of its
        own created before it (ties by id). Two index-only range counts on the partial
        ``ix_jobs_queued_studio_priority``."""
        # ``created_at <= ...`` bounds the index range; ties (a batch shares one timestamp) go by id.
        earlier = and_(
            Job.priority == priority,
            Job.created_at <= created_at,
            or_(Job.created_at < created_at, Job.id < job_id),
        )
        queued = and_(Job.status == JobStatus.queued.value, Job.studio == studio)
        higher = select(func.count()).select_from(Job).where(queued, Job.priority > priority)
        same = select(func.count()).select_from(Job).where(queued, earlier)
        return int(session.scalar(higher) or 0) + int(session.scalar(same) or 0)

    def started_since(self, session: Session, *, studio: str, since: datetime) -> int:
        """Jobs of ``studio`` first started at or after ``since`` (on ``ix_jobs_studio_started``)."""
        stmt = select(func.count()).select_from(Job).where(Job.studio == studio, Job.started_at >= since)
        return int(session.scalar(stmt) or 0)

    def studio_busy(self, session: Session, *, studio: str, now: datetime) -> bool:
        """Whether some job of ``studio`` runs under a live lease (its workers are at work)."""
        return (
            session.scalar(
                select(Job.id)
                .where(Job.studio == studio, Job.status == JobStatus.running.value, Job.lease_until > now)
                .limit(1)
            )
            is not None
        )

    def claimed_after(self, session: Session, *, studio: str, staged_at: datetime, priority: int) -> bool:
        """Whether a job of ``studio`` created after ``staged_at``, of priority ``priority`` or lower,
        has been claimed by a worker (a higher one overtakes by design: it says nothing)."""
        return (
            session.scalar(
                select(Job.id)
                .where(
                    Job.studio == studio,
                    Job.created_at > staged_at,
                    Job.started_at.is_not(None),
                    Job.priority <= priority,
                )
                .limit(1)
            )
            is not None
        )

    def schedule_output_deletion(self, session: Session, *, job_id: str, at: datetime) -> None:
        """The retention sweeper deletes the job's outputs at ``at``."""
        update_rows(session, Job, Job.id == job_id, outputs_expire_at=at)

    def outputs_due(self, session: Session, *, now: datetime, limit: int) -> Sequence[str]:
        """Ids of jobs whose outputs are due for deletion (on the partial ``ix_jobs_outputs_expire``)."""
        stmt = (
            select(Job.id)
            .where(
                Job.outputs_expire_at.is_not(None),
                Job.outputs_deleted_at.is_(None),
                Job.outputs_expire_at <= now,
            )
            .order_by(Job.outputs_expire_at)
            .limit(limit)
        )
        return session.scalars(stmt).all()

    def mark_outputs_deleted(self, session: Session, *, job_id: str, now: datetime) -> None:
        update_rows(session, Job, Job.id == job_id, Job.outputs_deleted_at.is_(None), outputs_deleted_at=now)

    def queued_of(self, session: Session, *, studios: Sequence[str]) -> Sequence[Job]:
        """The queued jobs of ``studios`` (their messages to stage again after a queue was re-created)."""
        return session.scalars(
            select(Job).where(Job.status == JobStatus.queued.value, Job.studio.in_(list(studios)))
        ).all()

    def take_for_restage(self, session: Session, *, job: Job, now: datetime, until: datetime) -> bool:
        """Count one more re-stage of ``job`` if it is still as the sweeper read it (no worker
        claimed it, no other sweeper took it meanwhile); frees its lease until ``until``."""
        result = session.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.restages == job.restages,
                Job.status.in_([JobStatus.queued.value, JobStatus.running.value]),
                or_(Job.lease_until.is_(None), Job.lease_until < now),
            )
            .values(restages=Job.restages + 1, lease_owner=None, lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def insert_queued(self, session: Session, jobs: Sequence[Job]) -> None:
        """Insert new jobs and their ``job.queued`` events: two statements, no unit of work."""
        columns = [c.key for c in Job.__table__.columns]
        session.execute(
            insert(table_of(Job)), [{name: getattr(job, name) for name in columns} for job in jobs]
        )
        session.execute(
            insert(table_of(JobEvent)),
            [
                {
                    "job_id": job.id,
                    "type": "job.queued",
                    "data": {"status": "queued"},
                    "created_at": job.created_at,
                }
                for job in jobs
            ],
        )

    def submission_params(
        self,
        *,
        tenant_id: str,
        jobs: Sequence[NewJob],
        messages: Sequence[dict[str, Any]],
        holds: Sequence[tuple[str, int]],
        max_active: int,
        max_stored_bytes: int,
    ) -> dict[str, Any]:
        """The bind parameters of ``_SUBMISSION_SQL`` (the jobs, messages and holds as JSON arrays)."""
        return {
            "tenant_id": tenant_id,
            "amount": sum(cost for _, cost in holds if cost > 0),
            "slots": len(jobs),
            "max_active": max_active,
            "max_stored_bytes": max_stored_bytes,
            "now": jobs[0].created_at,
            "jobs": json.dumps(
                [
                    {
                        "id": job.id,
                        "studio": job.studio,
                        "params": job.params,
                        "inputs": job.inputs,
                        "max_attempts": job.max_attempts,
                        "created_at": job.created_at.isoformat(),
                        "start_deadline": job.start_deadline.isoformat() if job.start_deadline else None,
                        "priority": job.priority,
                        "output_retention_seconds": job.output_retention_seconds,
                    }
                    for job in jobs
                ]
            ),
            "messages": json.dumps(
                [
                    {k: m[k] for k in ("message_id", "queue_name", "actor_name", "kwargs", "options")}
                    for m in messages
                ]
            ),
            "holds": json.dumps([{"job_id": job_id, "amount": cost} for job_id, cost in holds if cost > 0]),
        }

    def insert_submission_postgres(
        self, session: Session, params: dict[str, Any], *, commit: bool = False
    ) -> bool:
        """PostgreSQL: a whole submission (``params`` from ``submission_params``) in ONE statement;
        False (nothing written) when refused.

        The tenant's account is moved first (credits held and a concurrency slot per job, only
        if it can afford them, has the slots and is not at its storage quota) and every other row is inserted only when that
        UPDATE matched, by data-modifying CTEs: jobs, their ``job.queued`` events, their outbox
        messages and the ledger's reserve rows (the relays in other processes are notified after
        the commit: ``outbox.notifier``). One round trip instead of six, and the account
        row is locked from this statement to the commit that follows it. It writes the credits
        and outbox tables on purpose: the generic path (``insert_queued`` then the credits and
        outbox services) stays the reference, and the tests hold both to the same results.
        """
        if not commit:
            return bool(session.execute(_SUBMISSION, params).scalar_one())
        # ``commit``: the statement and the transaction's COMMIT leave in one round trip (psycopg's
        # pipeline mode), so the tenant's account row, locked by the statement, is held for the
        # commit alone, not also for a trip back to this thread and its next turn at the GIL: a
        # tenant's submissions queue on that row. A refused one committed nothing it wrote (every
        # row hangs on the account's UPDATE). The session's own commit then finds no transaction
        # open and sends nothing; its after-commit hooks (the outbox's wake) still run.
        connection = session.connection()
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        cursor = driver.cursor()
        try:
            # The engine's statement listeners see it as they see every other (tests and
            # bench/count_statements.py count statements through them); no execution context here.
            connection.dispatch.before_cursor_execute(
                connection, cursor, _SUBMISSION_DRIVER, params, None, False
            )
            with driver.pipeline():
                cursor.execute(_SUBMISSION_DRIVER, params)
                driver.commit()
            row = cursor.fetchone()
        finally:
            cursor.close()
        return bool(row and row[0])

    async def insert_submission_async(
        self, conn: psycopg.AsyncConnection[Any], params: dict[str, Any]
    ) -> bool:
        """``insert_submission_postgres(commit=True)`` on an autocommit async connection, from the
        event loop; ``params`` from ``submission_params``.

        The statement alone is the transaction (a data-modifying CTE is atomic): one round trip,
        the account row held for the statement and its commit alone, every row written only when
        the account's UPDATE matched. No SQLAlchemy session and no worker thread (the hand-off to
        one and back, and the session's bookkeeping, were most of what the gateway spent on a
        submission beside its one statement: bench/README.md, issue 31). No pipeline either:
        psycopg's async pipeline cost more Python per submission than the round trip it saved.
        """
        cursor = await conn.execute(_SUBMISSION_DRIVER, params)
        row = await cursor.fetchone()
        return bool(row and row[0])

    def add_event(self, session: Session, *, job_id: str, type: str, data: dict[str, object]) -> None:
        session.add(JobEvent(job_id=job_id, type=type, data=data))

    def unfinished(self, session: Session) -> Sequence[Job]:
        return session.scalars(
            select(Job).where(Job.status.in_([JobStatus.queued.value, JobStatus.running.value]))
        ).all()

    def unfinished_inputs(
        self, session: Session, *, tenant_id: str | None = None
    ) -> Sequence[dict[str, Any]]:
        """The ``inputs`` of queued and running jobs (only that column, on the status index)."""
        stmt = select(Job.inputs).where(Job.status.in_([JobStatus.queued.value, JobStatus.running.value]))
        if tenant_id is not None:
            stmt = stmt.where(Job.tenant_id == tenant_id)
        return session.scalars(stmt).all()

    def events(self, session: Session, *, job_id: str, after_id: int = 0) -> Sequence[JobEvent]:
        return session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after_id).order_by(JobEvent.id)
        ).all()

    def events_after(self, session: Session, *, cursors: Mapping[str, int], limit: int) -> Sequence[JobEvent]:
        """One query for many jobs, each read after its own id on the ``(job_id, id)`` index."""
        if not cursors:
            return []
        return session.scalars(
            select(JobEvent)
            .where(
                or_(*(and_(JobEvent.job_id == job, JobEvent.id > after) for job, after in cursors.items()))
            )
            .order_by(JobEvent.id)
            .limit(limit)
        ).all()


job_repository = JobRepository()
