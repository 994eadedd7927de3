"""Create studio: submit a text-to-image job."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import create

router = APIRouter(route_class=GuardedRoute, tags=["create"], responses=PROBLEM_RESPONSES)


@router.post("/create", **studio_route(create, form=False))
async def create_images(body: create.CreateRequest, submission: SubmissionDep) -> JobRead | Response:
    """Accept a create job: 1-10 images from a prompt (and a template, persona, provider); 202 with the job.

    Everything is checked before the job is queued: an unknown template, provider, model or
    persona, an aspect the chosen provider cannot make, or a bad prompt or count is a 422
    naming the field. The job's ``params`` hold the resolved request (enhanced prompt and the
    reasons for each addition, the providers planned) and, when it ends, ``results`` per image.
    """
    return await submission.submit(create, StudioBody(body))
