"""The hot submission, a POST of a JSON studio request, answered in front of the router.

Through FastAPI such a request walks the route table (~100 routes matched in turn), FastAPI's
request/response wrapper (two exit stacks, an exception wrapper), the route guard's generic checks
and the bearer scheme's parsing before the submission itself. :class:`LeanSubmissions` answers it
with the very same calls in the same order — the key (``check_key``, through the key cache), the
body limit (``hold_body``), then the route's own ``StudioHandler``: session, admission (rate limit,
Idempotency-Key), ``Prefer``, the body's validation, the endpoint, ``Submission.submit`` — and
turns errors into problems with the app's own exception handlers, so every answer, refusal or
not, is the one the route gives. What it does not take goes to the full route unchanged: another
path or method, a form or any body not declared ``application/json``, a ``root_path``, and every
request while tracing is on (the instrumented route names the server span).

The routes stay declared (the OpenAPI document is unchanged) and the request metrics see the
route's template as before (``scope["route"]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.guard import BodyKind, GuardedRoute, body_limit, check_key, hold_body, route_body_kind
from gateway.submission import StudioHandler
from imagestudio.telemetry.tracing import tracing_enabled

#: The content type the lean path takes (``studio_body`` parses anything not a form as JSON;
#: the rest, rare, goes the full way).
JSON_TYPE = b"application/json"
#: Where the lean path puts the route it answers for, in the scope.
_LEAN_SCOPE_KEY = "imagestudio.lean_submission"


@dataclass(frozen=True)
class _LeanRoute:
    """A studio submission route the lean path answers for."""

    route: APIRoute
    handler: StudioHandler
    kind: BodyKind


def _served(routes: list[Any]) -> Iterator[tuple[str, Any, APIRoute]]:
    """(path served, its methods and parameters, the route) of every API route the app serves.

    FastAPI keeps an included router as one entry and matches its routes through contexts holding
    the prefixed path (``effective_route_contexts``); a route added to the app directly is its own.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, route, route
        for context in getattr(route, "effective_route_contexts", lambda: ())():
            if isinstance(context.original_route, APIRoute):
                yield context.path, context, context.original_route


def lean_routes(routes: list[Any]) -> dict[str, _LeanRoute]:
    """The studio submission routes by the exact path served: POST only, no path parameters, guarded."""
    found: dict[str, _LeanRoute] = {}
    for path, served, route in _served(routes):
        if not isinstance(route, GuardedRoute) or set(served.methods) != {"POST"} or served.param_convertors:
            continue
        handler = StudioHandler.of(route.dependant, route.endpoint)
        if handler is not None:
            found[path] = _LeanRoute(route, handler, route_body_kind(route, route.body_kind))
    return found


def _is_json(scope: Scope) -> bool:
    """Whether the request declares a JSON body (``application/json``, any parameters)."""
    value: bytes
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value[:16].lower() == JSON_TYPE
    return False


class LeanSubmissions:
    """ASGI middleware: the hot JSON submission answered without the router, the rest passed on.

    Installed inside ``RequestMetrics`` (which counts and times it by the route's template) and
    the server-error layer (an unexpected error is the same 500 either way).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, _LeanRoute] | None = None
        self._handled: ASGIApp | None = None

    def _setup(self, scope: Scope) -> dict[str, _LeanRoute]:
        """The route table and the exception layer, from the app on its first request (every route
        is included by then)."""
        app = scope["app"]
        # The app's handlers but the 500 one (Starlette gives that to its server-error layer,
        # outside this one, as for every route).
        handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
        self._handled = ExceptionMiddleware(self._answer, handlers=handlers, debug=app.debug)
        # Traced, every request keeps the instrumented route's server span as it is named there.
        self._routes = {} if tracing_enabled() else lean_routes(app.routes)
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            routes = self._routes if self._routes is not None else self._setup(scope)
            lean = routes.get(scope["path"])
            if lean is not None and _is_json(scope):
                scope["route"], scope["endpoint"], scope["path_params"] = lean.route, lean.route.endpoint, {}
                scope[_LEAN_SCOPE_KEY] = lean
                assert self._handled is not None
                await self._handled(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
        """``GuardedRoute`` and ``direct_handler`` for a submission, in one call."""
        lean: _LeanRoute = scope[_LEAN_SCOPE_KEY]
        request = Request(scope, receive, send)
        await check_key(request)
        hold_body(request, body_limit(lean.kind))
        # The route guard's principal stands for the bearer credentials (``principal_of``).
        response = await lean.handler.answer(request, None)
        await response(scope, receive, send)
