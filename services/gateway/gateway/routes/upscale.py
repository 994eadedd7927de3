"""Upscale studio: submit an upscale job, and the modes and presets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.catalogues import UpscaleCatalogue
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import catalogue_status, example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import upscale

router = APIRouter(route_class=GuardedRoute, tags=["upscale"], responses=PROBLEM_RESPONSES)

UpscaleBody = Annotated[StudioBody[upscale.UpscaleRequest], Depends(studio_body(upscale.UpscaleRequest))]


@router.post("/upscale", **studio_route(upscale))
async def submit_upscale(submission: SubmissionDep, body: UpscaleBody) -> JobRead | Response:
    """Accept an upscale job (202). Modes, limits, presets and paths: GET /upscale/modes.

    The body is a multipart form with the image file, or JSON naming an upload. Creative is
    asynchronous at the provider: the job stays ``running`` while it is polled. Images outside
    the mode's limits, options the mode does not use, and a mode no configured provider nor the
    local path can serve are refused before anything is stored or queued.
    """
    return await submission.submit(upscale, body)


@router.get("/upscale/modes", responses=example_response(upscale.describe_modes(catalogue_status)))
def list_modes(principal: PrincipalDep) -> UpscaleCatalogue:
    """Every upscale mode (inputs, limits, credits, local path) and the quality presets."""
    return UpscaleCatalogue.model_validate(upscale.describe_modes())
