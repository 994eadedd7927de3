"""Upscale studio: submit an upscale job, and the modes and presets."""

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
from imagestudio.studios import upscale
from imagestudio.webhooks.service import webhook_service

router = APIRouter(route_class=GuardedRoute, tags=["upscale"], responses=PROBLEM_RESPONSES)


UpscaleBody = Annotated[StudioBody[upscale.UpscaleRequest], Depends(studio_body(upscale.UpscaleRequest))]


def draft(session: Session, *, tenant_id: str, body: StudioBody[upscale.UpscaleRequest]) -> JobDraft:
    """The job an upscale request makes; every refusal is raised before anything is stored."""
    request = body.request
    webhook = webhook_service.job_webhook(url=request.webhook_url, events=request.webhook_events)
    form = request.to_form(files=frozenset({*body.files, *request.upload_ids()}))
    upscale.check_form(form)
    images = studio_images(session, tenant_id=tenant_id, request=request, files=body.files)
    params, stored = upscale.prepare(session, tenant_id=tenant_id, form=form, files=images)
    uploads, inputs = job_inputs(stored)
    return JobDraft(
        studio="upscale",
        params=params.model_dump(mode="json"),
        uploads=uploads,
        inputs=inputs,
        cost=upscale.price(params),
        provider=params.routes[0].provider,
        webhook=webhook,
    )


@router.post(
    "/upscale",
    status_code=202,
    response_model=JobRead,
    openapi_extra=request_body_openapi(upscale.UpscaleRequest),
    responses=SUBMIT_RESPONSES,
)
def submit_upscale(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    wait: PreferWaitDep,
    body: UpscaleBody,
) -> JobRead | Response:
    """Accept an upscale job (202). Modes, limits, presets and paths: GET /upscale/modes.

    The body is a multipart form with the image file, or JSON naming an upload. Creative is
    asynchronous at the provider: the job stays ``running`` while it is polled. Images outside
    the mode's limits, options the mode does not use, and a mode no configured provider nor the
    local path can serve are refused before anything is stored or queued.
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


@router.get("/upscale/modes", responses=example_response(upscale.describe_modes(catalogue_status)))
def list_modes(principal: PrincipalDep) -> dict[str, Any]:
    """Every upscale mode (inputs, limits, credits, local path) and the quality presets."""
    return upscale.describe_modes()
