"""SQL for jobs and job events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from imagestudio.db import is_postgres, table_of, utcnow
from imagestudio.jobs.models import TERMINAL_STATUSES, Job, JobEvent, JobStatus


class JobRepository:
    def get_for_tenant(self, session: Session, *, tenant_id: str, job_id: str) -> Job | None:
        return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))

    def get(self, session: Session, job_id: str, *, for_update: bool = False) -> Job | None:
        stmt = select(Job).where(Job.id == job_id)
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
        if before:
            created, job_id = before
            stmt = stmt.where(or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id)))
        stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        return session.scalars(stmt).all()

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
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(list(expected)))
            .values(status=status.value, updated_at=now, **values)
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
