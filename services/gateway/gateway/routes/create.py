"""Create studio: submit a text-to-image (or image-to-image) job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import create

router = APIRouter(route_class=GuardedRoute, tags=["create"], responses=PROBLEM_RESPONSES)

CreateBody = Annotated[StudioBody[create.CreateRequest], Depends(studio_body(create.CreateRequest))]


@router.post("/create", **studio_route(create))
async def create_images(submission: SubmissionDep, body: CreateBody) -> JobRead | Response:
    """Accept a create job: 1-10 images from a prompt (and a template, persona, provider); 202 with the job.

    The body is JSON (``init_image`` an upload id) or a multipart form (``init_image`` a file).
    Everything is checked before the job is queued: an unknown template, provider, model or
    persona, an aspect the chosen provider cannot make, a bad prompt or count, a ``strength``
    without an ``init_image``, or an explicit provider or model that takes no init image is a
    422 naming the field. The job's ``params`` hold the resolved request (enhanced prompt and the
    reasons for each addition, the providers planned) and, when it ends, ``results`` per image.
    """
    return await submission.submit(create, body)
