"""Job status, listing and cancellation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.deps import PrincipalDep, ReadSessionDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.jobs.models import JobStatus, Studio
from imagestudio.jobs.schemas import JobPage, JobRead
from imagestudio.jobs.service import job_service

router = APIRouter(route_class=GuardedRoute, prefix="/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)


@router.get("/{job_id}", response_model=JobRead)
def get_job(job_id: str, session: ReadSessionDep, principal: PrincipalDep) -> JobRead:
    """A job's state, progress, error and outputs (with fresh presigned URLs)."""
    return job_service.read(session, tenant_id=principal.tenant_id, job_id=job_id)


@router.get("", response_model=JobPage)
def list_jobs(
    session: ReadSessionDep,
    principal: PrincipalDep,
    studio: Studio | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> JobPage:
    """The tenant's jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    return job_service.page(
        session,
        tenant_id=principal.tenant_id,
        limit=limit,
        studio=studio.value if studio else None,
        status=status.value if status else None,
        cursor=cursor,
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobRead,
    responses={409: PROBLEM_RESPONSES[422] | {"description": "Already finished"}},
)
def cancel_job(job_id: str, session: SessionDep, principal: PrincipalDep) -> JobRead:
    """Cancel a queued or running job; a running one stops at its next progress step."""
    job = job_service.cancel(session, tenant_id=principal.tenant_id, job_id=job_id)
    return job_service.to_read(session, [job])[0]
