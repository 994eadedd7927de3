"""Control studio: submit a control job (sketch, structure, style, style transfer), and its operations catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.catalogues import ControlCatalogue
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import catalogue_status, example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import control

router = APIRouter(route_class=GuardedRoute, tags=["control"], responses=PROBLEM_RESPONSES)

ControlBody = Annotated[StudioBody[control.ControlRequest], Depends(studio_body(control.ControlRequest))]


@router.post("/control", **studio_route(control))
async def submit_control(submission: SubmissionDep, body: ControlBody) -> JobRead | Response:
    """Accept a control job (202). Inputs, defaults, bounds and providers per operation: GET /control/operations.

    The body is a multipart form with the image files, or JSON in which each image is an upload
    id. Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a strength outside its bounds (0.0 is a value, honoured),
    images outside every provider's pixel, side and aspect limits, a provider request over 10 MiB
    (413), and an operation no configured provider can serve (nothing generates these locally).
    """
    return await submission.submit(control, body)


@router.get("/control/operations", responses=example_response(control.describe_operations(catalogue_status)))
def list_control_operations(principal: PrincipalDep) -> ControlCatalogue:
    """Every control operation: images, fields with defaults and bounds, providers, credits, control map."""
    return ControlCatalogue.model_validate(control.describe_operations())
