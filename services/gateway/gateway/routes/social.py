"""Social optimizer: submit a job, and the platform catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.catalogues import PlatformFormats, PlatformList, PlatformRead
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import social

router = APIRouter(route_class=GuardedRoute, tags=["social"], responses=PROBLEM_RESPONSES)


#: One real platform, as the routes describe it (the OpenAPI examples).
_EXAMPLE = social.get_platform("instagram").describe()

SocialBody = Annotated[
    StudioBody[social.SocialOptimizeRequest], Depends(studio_body(social.SocialOptimizeRequest))
]


@router.post("/social/optimize", **studio_route(social))
async def optimize(submission: SubmissionDep, body: SocialBody) -> JobRead | Response:
    """Accept a social job: one image, every chosen platform format; answers 202 with the job.

    The body is a multipart form with the image file, or JSON naming an upload
    (``{"image": "upl_…", "formats": ["instagram.story"]}``); the fields are the same.
    """
    return await submission.submit(social, body)


PlanBody = Annotated[StudioBody[social.SocialPlanRequest], Depends(studio_body(social.SocialPlanRequest))]


@router.post(
    "/social/plan",
    **(
        studio_route(social.plan_studio)
        | {
            "responses": {
                **studio_route(social.plan_studio)["responses"],
                200: {
                    "description": "The finished plan job (`Prefer: wait`): its `plan` output's "
                    "metadata is a SocialPlan",
                    "model": social.SocialPlanJob,
                },
            }
        }
    ),
)
async def plan(submission: SubmissionDep, body: PlanBody) -> JobRead | Response:
    """Each format's crop box, zoom, subject boxes and safe-zone placement, nothing rendered.

    A short job on the social worker (the gateway never decodes pixels): send ``Prefer: wait=10``
    to have the finished job in this answer; its one output, ``plan``, carries the plan (a
    ``SocialPlan``) as its metadata and as a JSON file. The numbers are those a social job with
    the same image and fields uses (docs/studios/social.md, "Crop plan").
    """
    return await submission.submit(social.plan_studio, body)


@router.get("/social/platforms", responses=example_response({"platforms": [_EXAMPLE]}))
def list_platforms(principal: PrincipalDep) -> PlatformList:
    """Every platform with its formats, sizes, aspect ratios, size limits, safe zones and sources."""
    return PlatformList.model_validate({"platforms": [p.describe() for p in social.PLATFORMS.values()]})


@router.get(
    "/social/platforms/{platform}/formats",
    responses=example_response({"platform": _EXAMPLE["id"], "formats": _EXAMPLE["formats"]}),
)
def list_formats(platform: str, principal: PrincipalDep) -> PlatformFormats:
    """The formats of one platform."""
    found = social.get_platform(platform)
    return PlatformFormats.model_validate(
        {"platform": found.id, "formats": [f.describe() for f in found.formats]}
    )


@router.get("/platform-specs/{platform}", responses=example_response(_EXAMPLE))
def platform_specs(platform: str, principal: PrincipalDep) -> PlatformRead:
    """A platform's upload rules (file types, size limit) and formats."""
    return PlatformRead.model_validate(social.get_platform(platform).describe())
