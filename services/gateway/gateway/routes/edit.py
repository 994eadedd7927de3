"""Edit studio: submit an edit job, and the operations a client can build its form from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.catalogues import EditCatalogue
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import catalogue_status, example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import edit

router = APIRouter(route_class=GuardedRoute, tags=["edit"], responses=PROBLEM_RESPONSES)

EditBody = Annotated[StudioBody[edit.Request], Depends(studio_body(edit.Request))]


@router.post("/edit", **studio_route(edit))
async def submit_edit(submission: SubmissionDep, body: EditBody) -> JobRead | Response:
    """Accept an edit job (202). Inputs, limits and paths per operation: GET /edit/operations.

    The body is a multipart form with the image files, or JSON in which each image is an upload
    id. Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a mask of another size, images outside the provider's (or
    the local path's) pixel, side and aspect limits, a provider request over 10 MiB (413), and
    an operation that no configured provider nor the local path can serve.
    """
    return await submission.submit(edit, body)


@router.get(
    "/edit/operations",
    responses=example_response(edit.describe_operations(catalogue_status)),
    response_model_exclude_unset=True,  # general_edit alone says its per-model credits and limits
)
def list_operations(principal: PrincipalDep) -> EditCatalogue:
    """Every edit operation: required and optional inputs, limits, credits, and whether a local path exists."""
    return EditCatalogue.model_validate(edit.describe_operations())
