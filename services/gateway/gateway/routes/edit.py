"""Edit studio: submit an edit job, and the operations a client can build its form from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from gateway.admission import AdmissionDep
from gateway.deps import PrincipalDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import catalogue_status, example_response
from gateway.problems import PROBLEM_RESPONSES, SUBMIT_RESPONSES
from gateway.studio_options import PreferWaitDep, answer
from gateway.studio_requests import StudioBody, request_body_openapi, studio_body
from gateway.uploads import job_inputs, studio_images
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.studios import edit
from imagestudio.webhooks.service import webhook_service

router = APIRouter(route_class=GuardedRoute, tags=["edit"], responses=PROBLEM_RESPONSES)

EditBody = Annotated[StudioBody[edit.EditRequest], Depends(studio_body(edit.EditRequest))]


def draft(session: Session, *, tenant_id: str, body: StudioBody[edit.EditRequest]) -> JobDraft:
    """The job an edit request makes; every refusal is raised before anything is stored."""
    request = body.request
    webhook = webhook_service.job_webhook(url=request.webhook_url, events=request.webhook_events)
    form = request.to_form(files=frozenset({*body.files, *request.upload_ids()}))
    edit.check_form(form)  # cheap refusals before any image is read
    images = studio_images(session, tenant_id=tenant_id, request=request, files=body.files)
    params, stored = edit.prepare(session, tenant_id=tenant_id, form=form, files=images)
    uploads, inputs = job_inputs(stored)
    return JobDraft(
        studio="edit",
        params=params.model_dump(mode="json"),
        uploads=uploads,
        inputs=inputs,
        cost=edit.price(params),
        provider=params.routes[0].provider,
        webhook=webhook,
    )


@router.post(
    "/edit",
    status_code=202,
    response_model=JobRead,
    openapi_extra=request_body_openapi(edit.EditRequest),
    responses=SUBMIT_RESPONSES,
)
def submit_edit(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    wait: PreferWaitDep,
    body: EditBody,
) -> JobRead | Response:
    """Accept an edit job (202). Inputs, limits and paths per operation: GET /edit/operations.

    The body is a multipart form with the image files, or JSON in which each image is an upload
    id. Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a mask of another size, images outside the provider's (or
    the local path's) pixel, side and aspect limits, a provider request over 10 MiB (413), and
    an operation that no configured provider nor the local path can serve.
    """
    if (replay := admission.replayed()) is not None:
        return replay
    job = job_service.submit_draft(
        session,
        tenant_id=admission.tenant_id,
        draft=draft(session, tenant_id=admission.tenant_id, body=body),
        idempotency=admission.claim,
    )
    accepted = admission.accept(response, job_service.to_read(session, [job])[0])
    return answer(request, response, session, accepted, tenant_id=admission.tenant_id, wait=wait)


@router.get("/edit/operations", responses=example_response(edit.describe_operations(catalogue_status)))
def list_operations(principal: PrincipalDep) -> dict[str, Any]:
    """Every edit operation: required and optional inputs, limits, credits, and whether a local path exists."""
    return edit.describe_operations()
