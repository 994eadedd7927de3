"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
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


@router.get("/healthz", responses=example_response({"status": "ok"}))
def liveness() -> dict[str, str]:
    """The process is up (Kubernetes liveness probe)."""
    return {"status": "ok"}


@router.get(
    "/api/image-studio/health",
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
    body = {"status": "ok" if healthy else "degraded", "mode": settings.mode, "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus exposition: this process's metrics plus queue depth and age (cached probe)."""
    body, content_type = render_metrics(queue_stats)
    return Response(body, media_type=content_type)
