"""Social optimizer: submit a job, and the platform catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from gateway.admission import AdmissionDep
from gateway.deps import PrincipalDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES, SUBMIT_RESPONSES
from gateway.studio_options import PreferWaitDep, answer
from gateway.studio_requests import StudioBody, request_body_openapi, studio_body
from gateway.uploads import job_inputs, studio_images
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.studios import social
from imagestudio.webhooks.service import webhook_service

router = APIRouter(route_class=GuardedRoute, tags=["social"], responses=PROBLEM_RESPONSES)


def _platform_body(platform: social.Platform) -> dict[str, Any]:
    return {
        "id": platform.id,
        "name": platform.name,
        "aliases": list(platform.aliases),
        "file_types": list(platform.file_types),
        "max_bytes": platform.max_bytes,
        "formats": [f.describe() for f in platform.formats],
    }


#: One real platform, as the routes describe it (the OpenAPI examples).
_EXAMPLE = _platform_body(social.get_platform("instagram"))

SocialBody = Annotated[
    StudioBody[social.SocialOptimizeRequest], Depends(studio_body(social.SocialOptimizeRequest))
]


def draft(session: Session, *, tenant_id: str, body: StudioBody[social.SocialOptimizeRequest]) -> JobDraft:
    """The job a social request makes; every refusal is raised before anything is stored."""
    request = body.request
    webhook = webhook_service.job_webhook(url=request.webhook_url, events=request.webhook_events)
    params = request.to_params()
    images = studio_images(session, tenant_id=tenant_id, request=request, files=body.files)
    uploads, inputs = job_inputs(image for image, _ in images.values())
    return JobDraft(
        studio="social",
        params=params.model_dump(mode="json"),
        uploads=uploads,
        inputs=inputs,
        cost=social.price(params),
        webhook=webhook,
    )


@router.post(
    "/social/optimize",
    status_code=202,
    response_model=JobRead,
    openapi_extra=request_body_openapi(social.SocialOptimizeRequest),
    responses=SUBMIT_RESPONSES,
)
def optimize(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    wait: PreferWaitDep,
    body: SocialBody,
) -> JobRead | Response:
    """Accept a social job: one image, every chosen platform format; answers 202 with the job.

    The body is a multipart form with the image file, or JSON naming an upload
    (``{"image": "upl_…", "formats": ["instagram.story"]}``); the fields are the same.
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


@router.get("/social/platforms", responses=example_response({"platforms": [_EXAMPLE]}))
def list_platforms(principal: PrincipalDep) -> dict[str, Any]:
    """Every platform with its formats, sizes, aspect ratios, size limits and safe zones."""
    return {"platforms": [_platform_body(p) for p in social.PLATFORMS.values()]}


@router.get(
    "/social/platforms/{platform}/formats",
    responses=example_response({"platform": _EXAMPLE["id"], "formats": _EXAMPLE["formats"]}),
)
def list_formats(platform: str, principal: PrincipalDep) -> dict[str, Any]:
    """The formats of one platform."""
    found = social.get_platform(platform)
    return {"platform": found.id, "formats": [f.describe() for f in found.formats]}


@router.get("/platform-specs/{platform}", responses=example_response(_EXAMPLE))
def platform_specs(platform: str, principal: PrincipalDep) -> dict[str, Any]:
    """A platform's upload rules (file types, size limit) and formats."""
    return _platform_body(social.get_platform(platform))
