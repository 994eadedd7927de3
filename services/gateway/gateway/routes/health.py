"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.outbox.service import outbox_service
from imagestudio.storage import get_store
from imagestudio.telemetry.metrics import render_metrics
from imagestudio.telemetry.queues import queue_stats

router = APIRouter(route_class=GuardedRoute, tags=["health"])


class Liveness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    """``ok``, or ``error: <exception type>``."""

    model_config = ConfigDict(extra="forbid")

    outbox_pending: int | None = Field(
        default=None, description="Messages written but not yet published (absent when the database is down)"
    )
    database: str
    storage: str


class Readiness(BaseModel):
    """The answer, 200 when ready and 503 (the same shape) when degraded."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    mode: str
    checks: ReadinessChecks


@router.get("/healthz", responses=example_response({"status": "ok"}))
def liveness() -> Liveness:
    """The process is up (Kubernetes liveness probe)."""
    return Liveness(status="ok")


@router.get(
    "/api/image-studio/health",
    response_model=Readiness,
    responses=example_response(
        {
            "status": "ok",
            "mode": "distributed",
            "checks": {"outbox_pending": 0, "database": "ok", "storage": "ok"},
        }
    ),
)
def readiness() -> JSONResponse:
    """Database and object store reachable, outbox backlog (readiness probe)."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            checks["outbox_pending"] = outbox_service.pending_count(session)
        checks["database"] = "ok"
    except Exception as exc:
        healthy, checks["database"] = False, f"error: {type(exc).__name__}"
    try:
        get_store().check()
        checks["storage"] = "ok"
    except Exception as exc:
        healthy, checks["storage"] = False, f"error: {type(exc).__name__}"
    settings = get_settings()
    body = Readiness.model_validate(
        {"status": "ok" if healthy else "degraded", "mode": settings.mode, "checks": checks}
    )
    # Unset, not null: a check that did not run is absent (the database down, no backlog read).
    return JSONResponse(body.model_dump(mode="json", exclude_unset=True), status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus exposition: this process's metrics plus queue depth and age (cached probe)."""
    body, content_type = render_metrics(queue_stats)
    return Response(body, media_type=content_type)
