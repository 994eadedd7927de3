"""The gateway's FastAPI application."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from gateway import console
from gateway.lean_submit import LeanSubmissions
from gateway.openapi import install_openapi, operation_id
from gateway.problems import add_exception_handlers
from gateway.routes import (
    assets,
    batch,
    credits,
    events,
    files,
    health,
    jobs,
    personas,
    providers,
    studios,
    templates,
    uploads,
    webhooks,
)
from imagestudio.assets.sweeper import AssetSweeper
from imagestudio.broker import get_broker
from imagestudio.config import get_settings
from imagestudio.db import AsyncConnections, is_postgres, libpq_url
from imagestudio.jobs.recovery import JobSweeper
from imagestudio.outbox.relay import OutboxRelay
from imagestudio.outbox.service import outbox_service
from imagestudio.telemetry.metrics import HTTP_LATENCY, HTTP_REQUESTS, JOBS_ACCEPTED, REQUESTS_REFUSED
from imagestudio.telemetry.tracing import configure_tracing, instrument_app
from imagestudio.uploads.sweeper import UploadSweeper
from imagestudio.urls import API_PREFIX

#: Where the gateway serves Swagger UI's and ReDoc's files (shipped by fastapi-offline, no CDN).
DOCS_ASSETS = "/docs-assets"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    relay = None
    job_sweeper = None
    if settings.run_relay:
        if app.state.relay_in_process:  # else ``imagestudio up`` runs it in a child process
            relay = OutboxRelay(get_broker(), poll_seconds=settings.outbox_poll_seconds)
            relay.start()
        # Beside the relay: lost jobs are re-staged through the outbox it publishes. Here, so
        # that its counters are on the gateway's /metrics wherever the relay runs.
        job_sweeper = JobSweeper()
        job_sweeper.start()
    app.state.relay = relay
    app.state.submit_limiter = CapacityLimiter(settings.gateway_submit_threads)
    # PostgreSQL: the common JSON submission commits from the event loop on these (gateway/submission.py).
    connections = (
        AsyncConnections(libpq_url(), size=settings.gateway_submit_threads)
        if is_postgres() and settings.gateway_submit_on_loop
        else None
    )
    app.state.submit_connections = connections
    # ... and wake the relays after those commits from the loop too (outbox/notifier.py).
    app.state.submit_notifier = outbox_service.loop_notifier() if connections is not None else None
    sweeper = UploadSweeper(interval_seconds=settings.upload_sweep_seconds)
    sweeper.start()
    asset_sweeper = AssetSweeper(interval_seconds=settings.asset_sweep_seconds)
    asset_sweeper.start()
    # What startup built (modules, routes, schemas: ~190,000 objects) lives as long as the
    # process; frozen, the collector stops re-scanning it: a full collection of it took
    # 100-117 ms, a pause of every request in flight (bench/README.md, "Collector pauses").
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # a test process runs many lifespans: what they froze can be collected again
        sweeper.stop()
        asset_sweeper.stop()
        if job_sweeper is not None:
            job_sweeper.stop()
        if relay is not None:
            relay.stop()
        if connections is not None:
            app.state.submit_connections = None
            await connections.close()
            await app.state.submit_notifier.close()  # the asks of the last commits answered first


def _refusal_reason(status: int) -> str | None:
    return {
        401: "auth",
        402: "credits",
        403: "forbidden",
        413: "too_large",
        422: "validation",
        429: "rate_limit",
    }.get(status)


@dataclass(frozen=True)
class _Instruments:
    """The metric children one (method, route, status) updates, labelled once (``labels()`` takes
    a lock and builds a key each call: a share of every request's CPU)."""

    requests: Any
    latency: Any
    outcome: Any | None  # jobs accepted (the studio's) or requests refused (the reason's)


@lru_cache(maxsize=4096)  # bounded: routes are templates, statuses a few (unmatched paths share one)
def _instruments(method: str, path: str, status: int) -> _Instruments:
    outcome = None
    if method == "POST" and status == 202:
        studio = path.rsplit("/", 2)[-2] if path.endswith("/optimize") else path.rsplit("/", 1)[-1]
        outcome = JOBS_ACCEPTED.labels(studio)
    elif method == "POST" and (reason := _refusal_reason(status)):
        outcome = REQUESTS_REFUSED.labels(reason)
    return _Instruments(
        HTTP_REQUESTS.labels(method, path, str(status)), HTTP_LATENCY.labels(method, path), outcome
    )


class RequestMetrics:
    """Counts and times every request by route template; counts accepted jobs and refusals.

    A plain ASGI middleware: ``@app.middleware("http")`` wraps every request in extra tasks and
    streams, a measurable share of the gateway's CPU per submission.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            instruments = _instruments(
                scope["method"], getattr(scope.get("route"), "path", "unmatched"), status
            )
            instruments.requests.inc()
            instruments.latency.observe(time.perf_counter() - started)
            if instruments.outcome is not None:
                instruments.outcome.inc()


def create_app(*, relay_in_process: bool = True) -> FastAPI:
    """The gateway; ``relay_in_process=False`` when ``imagestudio up`` runs the outbox relay in a
    child process (the job sweeper still runs here)."""
    # FastAPIOffline is FastAPI whose /docs and /redoc pages load their scripts from DOCS_ASSETS
    # instead of a public CDN, so the interactive docs work on a machine without internet.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        generate_unique_id_function=operation_id,
        title="Image Studio",
        version="0.1.0",
        description="Asynchronous image jobs: create, edit, upscale, social and control. Every studio call answers 202 with a job.",
        lifespan=lifespan,
    )
    app.state.relay_in_process = relay_in_process
    add_exception_handlers(app)
    install_openapi(app)
    # Off by default; when IMAGESTUDIO_TRACES_EXPORTER is set every request gets a server span.
    configure_tracing(get_settings(), service_name="imagestudio-gateway")
    instrument_app(app)

    # The hot JSON submission in front of the router (the same checks and answers, fewer layers),
    # inside the request metrics, which count it by its route as before.
    app.add_middleware(LeanSubmissions)
    app.add_middleware(RequestMetrics)

    app.include_router(health.router)
    app.include_router(console.router)
    app.include_router(files.router)
    app.include_router(jobs.router, prefix=API_PREFIX)
    app.include_router(batch.router, prefix=API_PREFIX)
    app.include_router(studios.router, prefix=API_PREFIX)  # every studio's, from the registry
    app.include_router(templates.router, prefix=API_PREFIX)
    app.include_router(providers.router, prefix=API_PREFIX)
    app.include_router(personas.router, prefix=API_PREFIX)
    app.include_router(assets.router, prefix=API_PREFIX)
    app.include_router(credits.router, prefix=API_PREFIX)
    app.include_router(events.router, prefix=API_PREFIX)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    app.include_router(uploads.router, prefix=API_PREFIX)
    return app
