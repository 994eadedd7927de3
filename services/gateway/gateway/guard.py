"""What every request with a body passes before the body is read: the API key, the write rate
limit, and the body size limit.

FastAPI reads a route's body before it solves the route's dependencies, so the key check in
``get_principal`` would come after a 50 MB body was spooled. ``guard_routes`` wraps every route
of the app instead (a route added later cannot miss it): for POST, PUT, PATCH and DELETE the key
is checked (401), a write counts against the tenant's ``writes`` rate (429, the same RateLimit
fields as submissions, which count under ``submissions`` in ``gateway.admission`` instead), a
declared Content-Length over the route's limit is refused (413), and only then is the body read,
through Starlette's ``RequestBodyLimitMiddleware``, which stops a chunked body at the limit.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admission import get_admission
from gateway.deps import authenticate, get_principal
from gateway.routes import files
from imagestudio.config import Settings
from imagestudio.errors import RequestTooLarge
from imagestudio.ratelimits.service import rate_limit_service

#: Methods that carry a body and change state: each is authenticated before its body is read,
#: and rate-limited.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The rate-limit policy of writes that are not job submissions.
WRITES_POLICY = "writes"


def _calls(dependant: Dependant) -> set[object]:
    """Every dependency callable of a route, nested ones included."""
    found: set[object] = set()
    for dependency in dependant.dependencies:
        found.add(dependency.call)
        found |= _calls(dependency)
    return found


def body_limit(route: APIRoute, settings: Settings) -> int:
    """The route's largest body: a form of image files, one image (presigned PUT), or JSON."""
    if route.endpoint is files.upload:
        return settings.max_upload_bytes
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return (
        settings.max_form_request_bytes
        if "multipart/form-data" in content
        else settings.max_json_request_bytes
    )


class RouteGuard:
    """Wraps one route's ASGI app: key, write rate, declared size, then the counted body."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, keyed: bool, admitted: bool) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self.max_body_bytes = max_body_bytes
        #: Whether the route takes an API key (``get_principal`` among its dependencies).
        self.keyed = keyed
        #: Whether the route is a job submission, rate-limited by its admission instead.
        self.admitted = admitted

    @property
    def rate_limited(self) -> bool:
        return self.keyed and not self.admitted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.keyed:
            principal = await authenticate(*get_authorization_scheme_param(headers.get("authorization")))
            scope.setdefault("state", {})["principal"] = principal
            if self.rate_limited:
                rate = await run_in_threadpool(
                    lambda: rate_limit_service.hit(
                        tenant_id=principal.tenant_id,
                        policy=WRITES_POLICY,
                        limit=principal.limits.requests_per_minute,
                    )
                )
                send = _with_headers(send, rate.headers())
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise RequestTooLarge(
                f"the body is {declared} bytes, over this route's {self.max_body_bytes} byte limit",
                limit=self.max_body_bytes,
            )
        await self.app(scope, receive, send)


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            response_headers = MutableHeaders(scope=message)
            for name, value in extra.items():
                response_headers.setdefault(name, value)
        await send(message)

    return sending


def guard_routes(app: FastAPI, settings: Settings) -> None:
    """Wrap every API route of the app in a :class:`RouteGuard` (call after including the routers)."""
    for route in app.routes:
        if isinstance(route, APIRoute) and not isinstance(route.app, RouteGuard):
            calls = _calls(route.dependant)
            route.app = RouteGuard(
                route.app,
                max_body_bytes=body_limit(route, settings),
                keyed=get_principal in calls,
                admitted=get_admission in calls,
            )
