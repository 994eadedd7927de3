"""Create studio: submit a text-to-image job."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from gateway.admission import AdmissionDep
from gateway.deps import SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES, SUBMIT_RESPONSES
from gateway.studio_options import PreferWaitDep, answer
from gateway.studio_requests import StudioBody
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.studios import create
from imagestudio.webhooks.service import webhook_service

router = APIRouter(route_class=GuardedRoute, tags=["create"], responses=PROBLEM_RESPONSES)


def draft(session: Session, *, tenant_id: str, body: StudioBody[create.CreateRequest]) -> JobDraft:
    """The job a create request makes; every refusal is raised before anything is queued."""
    request = body.request
    webhook = webhook_service.job_webhook(url=request.webhook_url, events=request.webhook_events)
    params, cost = create.prepare(session, tenant_id=tenant_id, request=request)
    return JobDraft(
        studio="create",
        params=params.model_dump(mode="json"),
        cost=cost,
        provider=request.provider,
        batch=params.count,
        webhook=webhook,
    )


@router.post("/create", status_code=202, response_model=JobRead, responses=SUBMIT_RESPONSES)
def create_images(
    body: create.CreateRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    wait: PreferWaitDep,
) -> JobRead | Response:
    """Accept a create job: 1-10 images from a prompt (and a template, persona, provider); 202 with the job.

    Everything is checked before the job is queued: an unknown template, provider, model or
    persona, an aspect the chosen provider cannot make, or a bad prompt or count is a 422
    naming the field. The job's ``params`` hold the resolved request (enhanced prompt and the
    reasons for each addition, the providers planned) and, when it ends, ``results`` per image.
    """
    if (replay := admission.replayed()) is not None:
        return replay
    job = job_service.submit_draft(
        session,
        tenant_id=admission.tenant_id,
        draft=draft(session, tenant_id=admission.tenant_id, body=StudioBody(body)),
        idempotency=admission.claim,
    )
    accepted = admission.accept(response, job_service.to_read(session, [job])[0])
    return answer(request, response, session, accepted, tenant_id=admission.tenant_id, wait=wait)
