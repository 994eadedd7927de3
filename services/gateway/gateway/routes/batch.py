"""Batch submission: up to 100 studio jobs in one request, each answered on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from sqlalchemy.orm import Session

from gateway.admission import Admission, AdmissionDep, in_submit_thread
from gateway.deps import SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES, SUBMIT_RESPONSES, error_problem
from gateway.studio_requests import StudioBody, validate_json
from gateway.submission import draft
from imagestudio.errors import ImageStudioError
from imagestudio.jobs.models import Job
from imagestudio.jobs.schemas import JOB_EXAMPLE, JobRead
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.ratelimits.service import StoredResponse
from imagestudio.studios.registry import STUDIOS
from imagestudio.telemetry.metrics import JOBS_ACCEPTED

router = APIRouter(route_class=GuardedRoute, tags=["jobs"], responses=PROBLEM_RESPONSES)

#: Most jobs one batch may carry.
MAX_BATCH_JOBS = 100


def _known_studio(name: str) -> str:
    if name not in STUDIOS:
        raise ValueError(f"unknown studio {name!r}; choose from {', '.join(STUDIOS)}")
    return name


#: A studio's name, or a second route of one (``convert``): the registry's keys, in the OpenAPI document too.
StudioName = Annotated[
    str, AfterValidator(_known_studio), WithJsonSchema({"type": "string", "enum": list(STUDIOS)})
]


class BatchJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    studio: StudioName
    params: dict[str, Any] = Field(description="The studio route's JSON body (images as upload ids)")


class BatchCreate(BaseModel):
    """``POST /jobs/batch``: up to 100 jobs, each a studio and its JSON body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "jobs": [
                        {
                            "studio": "social",
                            "params": {
                                "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                                "formats": ["instagram.story"],
                            },
                        },
                        {"studio": "create", "params": {"prompt": "a lighthouse at dawn"}},
                    ]
                }
            ]
        },
    )

    jobs: list[BatchJob] = Field(min_length=1, max_length=MAX_BATCH_JOBS)


class BatchEntry(BaseModel):
    """One job's answer: 202 and the job, or the status and problem its studio route would give."""

    status: int
    job: JobRead | None = None
    problem: dict[str, Any] | None = None


class BatchRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "jobs": [
                        {"status": 202, "job": JOB_EXAMPLE, "problem": None},
                        {
                            "status": 422,
                            "job": None,
                            "problem": {
                                "type": "https://imagestudio.dev/problems/validation-failed",
                                "title": "Validation failed",
                                "status": 422,
                                "detail": "prompt: String should have at least 1 character",
                                "instance": "/api/image-studio/jobs/batch#1",
                                "field": "prompt",
                            },
                        },
                    ]
                }
            ]
        }
    )

    jobs: list[BatchEntry]


def _draft(session: Session, *, tenant_id: str, entry: BatchJob) -> JobDraft:
    studio = STUDIOS[entry.studio]
    return draft(
        session,
        tenant_id=tenant_id,
        studio=studio,
        body=StudioBody(validate_json(studio.Request, entry.params)),
    )


@router.post("/jobs/batch", response_model=BatchRead, responses=SUBMIT_RESPONSES)
async def submit_batch(
    body: BatchCreate, request: Request, response: Response, session: SessionDep, admission: AdmissionDep
) -> BatchRead | Response:
    """Accept up to 100 jobs: 200 with one entry per job, in order (202 and the job, or its problem).

    Each entry is validated and prepared exactly as its studio route would; a refused entry is
    never charged nor queued, and does not stop the others. The Idempotency-Key covers the whole
    batch (a racing identical batch gets its answer, or 409 while it is handled), and the batch
    counts as one request against the rate limit.
    """
    if (replay := admission.replayed()) is not None:
        return replay
    # In a thread lent to submissions, as a studio route's: a batch is up to 100 of them.
    answered = await in_submit_thread(request, _submit, body, request.url.path, session, admission)
    response.headers.update(admission.rate.headers())
    return answered


def _submit(body: BatchCreate, path: str, session: Session, admission: Admission) -> BatchRead:
    """Draft every entry, then submit the drafts together: the batch's database and storage work."""
    answers: list[BatchEntry | None] = [None] * len(body.jobs)
    drafts: list[tuple[int, JobDraft]] = []
    for position, entry in enumerate(body.jobs):
        instance = f"{path}#/jobs/{position}"
        try:
            drafts.append((position, _draft(session, tenant_id=admission.tenant_id, entry=entry)))
        except (ImageStudioError, ValidationError) as refused:
            problem = error_problem(refused, instance=instance)
            answers[position] = BatchEntry(status=problem["status"], problem=problem)
        session.rollback()  # drafting only reads: no transaction is held across entries
    positions = [position for position, _ in drafts]

    def render(results: Sequence[Job | ImageStudioError]) -> BatchRead:
        accepted = iter(
            job_service.to_read(None, [r for r in results if not isinstance(r, ImageStudioError)])
        )
        entries = list(answers)
        for position, result in zip(positions, results, strict=True):
            if isinstance(result, ImageStudioError):
                problem = result.to_problem(instance=f"{path}#/jobs/{position}")
                entries[position] = BatchEntry(status=result.status, problem=problem)
            else:
                entries[position] = BatchEntry(status=202, job=next(accepted))
        return BatchRead(jobs=[entry for entry in entries if entry is not None])

    def stored(results: Sequence[Job | ImageStudioError]) -> StoredResponse:
        # The answer replays will get, committed with the jobs (one transaction).
        return StoredResponse(200, render(results).model_dump(mode="json"), {})

    results = job_service.submit_many(
        session,
        tenant_id=admission.tenant_id,
        drafts=[job for _, job in drafts],
        idempotency=admission.claim,
        respond=stored,
    )
    for (_, submitted), result in zip(drafts, results, strict=True):
        if not isinstance(result, ImageStudioError):
            JOBS_ACCEPTED.labels(submitted.studio).inc()
    return render(results)
