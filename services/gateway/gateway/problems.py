"""The one place errors become RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagestudio.errors import (
    PROBLEM_BASE,
    DatabaseUnavailable,
    IdempotentReplay,
    ImageStudioError,
    RequestTooLarge,
)
from imagestudio.ratelimits.service import RateLimitState
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.tracing import current_trace_id

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
#: Where ``gateway.guard`` puts a route's body limit in the scope, for the 413 to name it.
BODY_LIMIT_SCOPE_KEY = "imagestudio.max_body_bytes"
#: Where the guard (writes) and admission (submissions) put the request's counted rate
#: (a ``RateLimitState``), so a refusal after the count carries the RateLimit fields too.
RATE_LIMIT_SCOPE_KEY = "imagestudio.rate_limit"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def _answer(
    request: Request, body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> ProblemResponse:
    """The problem response; a request already counted against a rate also gets its RateLimit fields
    (the error's own headers win: a 429 names the policy it broke)."""
    rate: RateLimitState | None = request.scope.get(RATE_LIMIT_SCOPE_KEY)
    merged = {**(rate.headers() if rate is not None else {}), **(headers or {})}
    return ProblemResponse(body, status_code=status, headers=merged or None)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "quality") -> "quality"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def problem_body(
    status: int, title: str, detail: str, *, slug: str, instance: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    return body


def problem(
    status: int, title: str, detail: str, *, slug: str, instance: str, **extra: Any
) -> ProblemResponse:
    body = problem_body(status, title, detail, slug=slug, instance=instance, **extra)
    return ProblemResponse(body, status_code=status)


def validation_problem(errors: Sequence[Mapping[str, Any]], *, instance: str) -> dict[str, Any]:
    """The 422 body for pydantic validation errors: the first field named, every error listed."""
    fields = [
        {"field": _field_name(tuple(err.get("loc", ()))), "message": err.get("msg", "invalid")}
        for err in errors
    ]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    return {
        "type": PROBLEM_BASE + "validation-failed",
        "title": "Validation failed",
        "status": 422,
        "detail": f"{first['field']}: {first['message']}",
        "instance": instance,
        "field": first["field"],
        "errors": fields,
    }


def error_problem(error: ImageStudioError | ValidationError, *, instance: str) -> dict[str, Any]:
    """The problem body an error would answer with, for a response that carries several (a batch)."""
    if isinstance(error, ValidationError):
        return validation_problem(error.errors(), instance=instance)
    return error.to_problem(instance=instance)


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(IdempotentReplay)
    async def _replay(request: Request, exc: IdempotentReplay) -> JSONResponse:
        # Not a problem: a racing request with the same key committed first; answer as it did.
        headers = {**exc.response_headers, "Idempotent-Replayed": "true"}
        return JSONResponse(exc.body, status_code=exc.response_status, headers=headers)

    @app.exception_handler(ImageStudioError)
    async def _studio_error(request: Request, exc: ImageStudioError) -> ProblemResponse:
        body = exc.to_problem(instance=request.url.path)
        if exc.status >= 500:
            # The detail may name hosts or buckets (see ``expose_detail``): it goes to the log,
            # and the client gets the trace id to quote.
            trace_id = current_trace_id()
            log.error("request.failed", path=request.url.path, error=exc.detail, trace_id=trace_id)
            if trace_id:
                body["trace_id"] = trace_id
        return _answer(request, body, exc.status, exc.headers)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> ProblemResponse:
        # The database restarting or failing over (connection refused, "shutting down", sessions
        # terminated): nothing the client did, and a retry shortly will do; not a 500.
        return await _studio_error(request, DatabaseUnavailable(repr(exc.orig)[:500]))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
        body = validation_problem(exc.errors(), instance=request.url.path)
        return _answer(request, body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        limit = request.scope.get(BODY_LIMIT_SCOPE_KEY)
        if exc.status_code == 413 and isinstance(limit, int):
            # The route guard stopped a (chunked) body while it streamed in.
            too_large = RequestTooLarge(f"the body is over this route's {limit} byte limit", limit=limit)
            return _answer(request, too_large.to_problem(instance=request.url.path), 413)
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        body = problem_body(
            exc.status_code,
            titles.get(exc.status_code, "HTTP error"),
            str(exc.detail),
            slug={404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error"),
            instance=request.url.path,
        )
        return _answer(request, body, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
        trace_id = current_trace_id()
        log.exception("request.crashed", path=request.url.path, error=repr(exc), trace_id=trace_id)
        extra = {"trace_id": trace_id} if trace_id else {}
        return problem(
            500,
            "Internal error",
            "An unexpected error occurred.",
            slug="internal",
            instance=request.url.path,
            **extra,
        )


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of problem answers: each status with its description and a problem+json body."""
    return {code: {"description": desc, "content": {PROBLEM_JSON: {}}} for code, desc in descriptions.items()}


#: OpenAPI declarations of the problems routes can answer with.
PROBLEM_RESPONSES = problem_responses(
    {
        401: "Missing or invalid API key",
        404: "Not found (or another tenant's)",
        422: "Validation failed",
    }
)

#: The further problems of a route that accepts jobs (the admission checks and the image limits).
SUBMIT_RESPONSES = problem_responses(
    {
        402: "The balance does not cover the job",
        403: "The tenant's tier does not include this studio, provider, priority or output retention",
        409: "A request with this Idempotency-Key is still being handled",
        413: "An image over the byte or pixel limit",
        429: "Over the request rate, the concurrent-job limit or the bytes of forms in flight (see Retry-After)",
    }
)
