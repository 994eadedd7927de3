"""Every studio's routes, built from the studio registry: its ``POST`` and the catalogue ``GET``s it declares.

A studio needs no file here. Each registry route's ``POST`` is the one handler below, named, pathed
and described by the face's ``ROUTE``, its body the face's ``Request`` (``studios/common/http_routes.py``);
the catalogues are the face's own functions behind the API key. No ``from __future__ import
annotations``: the handler's body annotation names its studio's model, which FastAPI reads at runtime.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from gateway.deps import get_principal
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios.common.base import Studio
from imagestudio.studios.registry import catalogues_of, routes_of, studio_names

router = APIRouter(route_class=GuardedRoute, responses=PROBLEM_RESPONSES)


def submit_handler(studio: Studio[Any]) -> Callable[..., Awaitable[JobRead | Response]]:
    """``studio``'s route: ``submission.submit(studio, body)``, with the name and docstring of its ``ROUTE``."""
    body_type: Any = Annotated[StudioBody[Any], Depends(studio_body(studio.Request))]

    async def submit(submission: SubmissionDep, body: body_type) -> JobRead | Response:
        return await submission.submit(studio, body)

    submit.__name__ = submit.__qualname__ = studio.ROUTE.name
    submit.__doc__ = studio.ROUTE.doc
    return submit


for name in studio_names():
    for route in routes_of(name):
        options = studio_route(route)
        responses = {**options.pop("responses"), **route.ROUTE.responses}
        router.post(route.ROUTE.path, tags=[name], responses=responses, **options)(submit_handler(route))
    for catalogue in catalogues_of(name):
        router.get(
            catalogue.path,
            tags=[name],
            dependencies=[Depends(get_principal)],
            responses=example_response(catalogue.example()),
            response_model_exclude_unset=catalogue.exclude_unset,
        )(catalogue.read)
