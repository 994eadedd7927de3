"""What every write passes before its body is read: the API key, the write rate limit, the size limit.

FastAPI reads a route's body before it solves the route's dependencies, so the key check in
``get_principal`` alone would come after a 50 MB body was spooled. Every gateway router uses
:class:`GuardedRoute` (the route walk in ``tests/unit/gateway/test_request_limits.py`` keeps a new
one from forgetting): for POST, PUT, PATCH and DELETE the key is checked (401), the write counts
against the tenant's ``writes`` rate (429 with the same RateLimit fields as submissions, which
count under ``submissions`` in ``gateway.admission`` instead), a declared Content-Length over the
route's limit is refused (413), a multipart body past the bytes of forms the process (or the
tenant) may receive at once is refused (429, ``gateway.form_bodies``), and only then is the body
read, counted so that a chunked body stops at the limit too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Literal

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from gateway.admission import get_admission
from gateway.deps import authenticate, client_address, get_principal
from gateway.form_bodies import Reservation, form_bodies
from gateway.problems import BODY_LIMIT_SCOPE_KEY, RATE_LIMIT_SCOPE_KEY
from gateway.submission import direct_handler, submission_dependency
from imagestudio.config import get_settings
from imagestudio.errors import RequestTooLarge
from imagestudio.ratelimits.service import RateLimitState, rate_limit_service
from imagestudio.tenants.service import Principal

#: Methods that carry a body and change state: each is authenticated before its body is read,
#: and rate-limited.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The rate-limit policy of writes that are not job submissions.
WRITES_POLICY = "writes"

BodyKind = Literal["json", "form", "file"]
#: The content type whose bodies spool to temporary disk, held to ``gateway.form_bodies``' caps.
MULTIPART = "multipart/form-data"


def _calls(dependant: Dependant) -> set[object]:
    """Every dependency callable of a route, nested ones included."""
    found: set[object] = set()
    for dependency in dependant.dependencies:
        found.add(dependency.call)
        found |= _calls(dependency)
    return found


def body_limit(kind: BodyKind) -> int:
    """The largest body of a route taking JSON, a form of image files, or one image (presigned PUT)."""
    settings = get_settings()
    return {
        "json": settings.max_json_request_bytes,
        "form": settings.max_form_request_bytes,
        "file": settings.max_upload_bytes,
    }[kind]


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a body (a chunked one too) once it is over ``limit`` bytes.

    Starlette's HTTPException, because FastAPI re-raises that one from its body parsing (any
    other error becomes a 400); ``problems.py`` names the limit from the scope.
    """
    total = 0

    async def receiving() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise HTTPException(status_code=413)
        return message

    return receiving


async def check_key(request: Request) -> Principal:
    """The write's API key, before its body is read (401); ``get_principal`` answers with it after."""
    scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
    principal = await authenticate(scheme, key, address=client_address(request))
    request.state.principal = principal
    return principal


def hold_body(request: Request, limit: int) -> None:
    """Refuse a declared Content-Length over ``limit`` (413) and stop a longer (chunked) body at it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(
            f"the body is {declared} bytes, over this route's {limit} byte limit", limit=limit
        )
    request.scope[BODY_LIMIT_SCOPE_KEY] = limit
    # Starlette's Request has no public way to wrap its receive channel.
    request._receive = _limited(request.receive, limit)


def route_body_kind(route: APIRoute, default: BodyKind = "json") -> BodyKind:
    """The body limit a route is held to: a route declaring a multipart body takes a form's."""
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return "form" if MULTIPART in content else default


class GuardedRoute(APIRoute):
    """A route whose writes pass the key, write-rate and size checks before the body is read.

    Every router of the gateway uses it (``APIRouter(route_class=GuardedRoute)``). The hot JSON
    submission reaches the same checks through ``gateway.lean_submit`` without the router.
    """

    #: The body limit of a route that declares no multipart body.
    body_kind: ClassVar[BodyKind] = "json"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # A studio submission solves its own two dependencies (the hot path); any other route
        # through FastAPI's generic solver.
        handler = direct_handler(self.dependant, self.endpoint) or super().get_route_handler()
        calls = _calls(self.dependant)
        #: Whether the route takes an API key, and whether it is a job submission (rate-limited
        #: under ``submissions`` by its admission, with the Idempotency-Key).
        admitted = bool(calls & {get_admission, submission_dependency})
        keyed = admitted or get_principal in calls
        kind = route_body_kind(self, self.body_kind)

        async def guarded(request: Request) -> Response:
            if request.method not in WRITE_METHODS:
                return await handler(request)
            rate: RateLimitState | None = None
            tenant_id: str | None = None
            if keyed:
                principal = await check_key(request)
                tenant_id = principal.tenant_id
                if not admitted:
                    rate = await rate_limit_service.hit_async(
                        tenant_id=principal.tenant_id,
                        policy=WRITES_POLICY,
                        limit=principal.limits.requests_per_minute,
                    )
                    request.scope[RATE_LIMIT_SCOPE_KEY] = rate  # a refusal from here on carries it
            limit = body_limit(kind)
            hold_body(request, limit)
            reservation: Reservation | None = None
            if kind == "form" and request.headers.get("content-type", "").lower().startswith(MULTIPART):
                declared = request.headers.get("content-length", "")
                reservation = form_bodies(request).reserve(
                    tenant_id, int(declared) if declared.isdigit() else limit
                )
            try:
                response = await handler(request)
            finally:
                if reservation is not None:
                    try:
                        await request.close()  # the form's spooled files, before their bytes count free
                    finally:
                        reservation.release()
            if rate is not None:
                for name, value in rate.headers().items():
                    response.headers.setdefault(name, value)
            return response

        return guarded


class SignedUploadRoute(GuardedRoute):
    """A route taking one image, authorised by a signed URL (the local store's presigned PUT)."""

    body_kind = "file"
