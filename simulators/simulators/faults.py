"""Fault injection and observability shared by the SIMULATORS: scripted faults, call log, async jobs.

Faults are consumed in order, one per API call (control routes excluded)::

    sim.faults.push({"status": 429, "retry_after": 1}, {"status": 503}, {"delay": 5.0},
                    {"content_filter": True}, {"stay_in_progress": 3})

or over HTTP: ``POST /_simulator/faults`` with the same JSON list, ``DELETE /_simulator/faults``,
``GET /_simulator/calls``. Every response carries ``X-Simulator: <provider>-simulator``.

A model the vendor has withdrawn answers every call, not just one: ``sim.harness.retire(path,
status=410)`` (or 404 with the vendor's "model not found" text) until ``restore(path)``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AsyncJob", "AsyncJobs", "CallLog", "CallRecord", "Fault", "FaultScript", "SimulatorHarness"]

#: Paths that are the simulator's own and never consume faults nor count as calls.
CONTROL_PREFIX = "/_simulator"


class Fault(BaseModel):
    """One scripted misbehaviour; the fields combine (a delay then a status, for instance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Answer with this HTTP status and the provider's error body (or ``body``).
    status: int | None = Field(default=None, ge=100, le=599)
    #: ``Retry-After`` to send: seconds, or an HTTP-date string.
    retry_after: float | str | None = None
    #: Seconds to wait before answering (to trip client timeouts).
    delay: float = Field(default=0.0, ge=0, le=300)
    #: The provider's content filter refuses this call (each simulator answers its own way).
    content_filter: bool = False
    #: Async work submitted by this call stays in progress for this many polls.
    stay_in_progress: int | None = Field(default=None, ge=0, le=10_000)
    #: Async work submitted by this call ends failed with this message.
    fail: str | None = None
    #: Error message to put in the provider-shaped error body.
    message: str | None = None
    #: Exact JSON body to answer with (overrides the provider-shaped one).
    body: Any = None
    #: Only a call whose path contains this consumes the fault (others pass it by).
    path: str | None = None
    #: Gemini ``:generateContent``: answer 200 with a candidate ending with this ``finishReason``
    #: and no image (IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION, IMAGE_OTHER, NO_IMAGE).
    finish_reason: str | None = None
    #: WaveSpeed: send ``status`` as the envelope's ``code`` inside an HTTP 200, not as the HTTP status.
    envelope: bool = False
    #: WaveSpeed: async work submitted by this call ends with this status (``cancelled``, ``timeout``).
    end_status: str | None = None


class FaultScript:
    """Thread-safe queue of faults: tests push from their thread, the server pops in its loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def push(self, *faults: Fault | Mapping[str, Any]) -> None:
        parsed = [fault if isinstance(fault, Fault) else Fault.model_validate(fault) for fault in faults]
        with self._lock:
            self._faults.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str) -> Fault | None:
        """The first fault this path may consume, removed from the script."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(index)
        return None


class CallRecord(BaseModel):
    """One API call the simulator received."""

    method: str
    path: str
    status: int | None = None
    fault: dict[str, Any] | None = None
    at: float


class CallLog:
    """The calls received, for tests asserting what reached the provider."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def record(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def entries(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def count(self, path_contains: str = "", *, method: str | None = None) -> int:
        return sum(
            1
            for record in self.entries()
            if path_contains in record.path and (method is None or record.method == method.upper())
        )

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


@dataclass
class AsyncJob:
    """Async work held by a simulator: in progress for ``polls_left`` more polls, then done or failed."""

    id: str
    model: str
    polls_left: int
    outputs: list[tuple[bytes, str]] = field(default_factory=list)
    seed: int = 0
    content_filtered: bool = False
    error: str | None = None
    #: The terminal status a simulator reports instead of completed/failed (WaveSpeed's cancelled, timeout).
    end_status: str | None = None
    polls: int = 0
    created_at: float = field(default_factory=time.time)


class AsyncJobs:
    """Thread-safe store of async jobs by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, AsyncJob] = {}

    def add(self, job: AsyncJob) -> AsyncJob:
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> AsyncJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(
        self,
        fault: Fault | None,
        *,
        in_progress_polls: int,
        model: str,
        outputs: list[tuple[bytes, str]],
        seed: int,
        content_filtered: bool,
    ) -> AsyncJob:
        """A new job as ``fault`` scripts it: its ``stay_in_progress`` overrides ``in_progress_polls``,
        its ``fail`` fails the job and its ``end_status`` ends it so."""
        polls = fault.stay_in_progress if fault and fault.stay_in_progress is not None else in_progress_polls
        return self.add(
            AsyncJob(
                id=self.new_id(),
                model=model,
                polls_left=polls,
                outputs=outputs,
                seed=seed,
                content_filtered=content_filtered,
                error=fault.fail if fault else None,
                end_status=fault.end_status if fault else None,
            )
        )

    def poll(self, job_id: str) -> tuple[AsyncJob, bool] | None:
        """Count one poll of the job; ``(job, still_in_progress)``, or ``None`` for an unknown id."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.polls += 1
            if job.polls_left > 0:
                job.polls_left -= 1
                return job, True
            return job, False

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex


class _LabelMiddleware:
    """Adds ``X-Simulator`` to every response and logs API calls with their status."""

    def __init__(self, app: ASGIApp, *, harness: SimulatorHarness) -> None:
        self.app = app
        self.harness = harness

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        tracked = not path.startswith(CONTROL_PREFIX) and path != "/"
        status: list[int] = []

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-simulator", self.harness.label.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, labelled_send)
        finally:
            if tracked:
                fault = scope.get("state", {}).get("simulator_fault")
                self.harness.calls.record(
                    CallRecord(
                        method=scope["method"],
                        path=path,
                        status=status[0] if status else None,
                        fault=fault,
                        at=time.time(),
                    )
                )


class SimulatorHarness:
    """What every simulator shares: label, fault script, call log, control routes, seeds."""

    def __init__(self, provider: str, *, description: str, real_host: str) -> None:
        self.provider = provider
        self.label = f"{provider}-simulator"
        self.description = description
        self.real_host = real_host
        self.faults = FaultScript()
        self.calls = CallLog()
        self._seed_lock = threading.Lock()
        self._next_seed = 1_000
        self._retired: dict[str, Fault] = {}
        self._retired_lock = threading.Lock()

    def retire(self, path: str, *, status: int = 410, message: str | None = None) -> None:
        """Answer every call whose path contains ``path`` with ``status`` (a model the vendor withdrew)."""
        with self._retired_lock:
            self._retired[path] = Fault(status=status, message=message or f"model gone: {path}")

    def restore(self, path: str) -> None:
        """Serve ``path`` again."""
        with self._retired_lock:
            self._retired.pop(path, None)

    def install(self, app: FastAPI) -> None:
        """Add the label middleware, the ``GET /`` notice and the ``/_simulator`` control API."""
        app.add_middleware(_LabelMiddleware, harness=self)
        harness = self

        async def _unhandled(request: Request, exc: Exception) -> Response:
            return JSONResponse(
                {"error": f"simulator bug: {type(exc).__name__}: {exc}"},
                status_code=500,
                headers={"x-simulator": harness.label},
            )

        app.add_exception_handler(Exception, _unhandled)

        @app.get("/", include_in_schema=False)
        async def notice() -> dict[str, Any]:
            return {
                "simulator": harness.label,
                "notice": (
                    f"This is a local SIMULATOR of the {harness.description} for tests and the embedded "
                    f"default. It is not {harness.real_host} and produces synthetic images only."
                ),
                "control": {
                    "faults": f"{CONTROL_PREFIX}/faults (GET, POST a JSON list, DELETE)",
                    "calls": f"{CONTROL_PREFIX}/calls (GET, DELETE)",
                },
            }

        @app.post(f"{CONTROL_PREFIX}/faults", include_in_schema=False)
        async def push_faults(faults: list[Fault] | Fault) -> dict[str, int]:
            harness.faults.push(*(faults if isinstance(faults, list) else [faults]))
            return {"pending": len(harness.faults.pending())}

        @app.get(f"{CONTROL_PREFIX}/faults", include_in_schema=False)
        async def list_faults() -> list[Fault]:
            return harness.faults.pending()

        @app.delete(f"{CONTROL_PREFIX}/faults", status_code=204, include_in_schema=False)
        async def clear_faults() -> None:
            harness.faults.clear()

        @app.get(f"{CONTROL_PREFIX}/calls", include_in_schema=False)
        async def list_calls() -> dict[str, Any]:
            entries = harness.calls.entries()
            return {"count": len(entries), "calls": [entry.model_dump() for entry in entries]}

        @app.delete(f"{CONTROL_PREFIX}/calls", status_code=204, include_in_schema=False)
        async def clear_calls() -> None:
            harness.calls.clear()

    async def begin(self, request: Request) -> Fault | None:
        """Take this call's fault (if any) and serve its delay; call after authentication."""
        with self._retired_lock:
            retired = next((f for p, f in self._retired.items() if p in request.url.path), None)
        if retired is not None:
            request.state.simulator_fault = retired.model_dump(exclude_defaults=True)
            return retired
        fault = self.faults.take(request.url.path)
        if fault is None:
            return None
        request.state.simulator_fault = fault.model_dump(exclude_defaults=True)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        return fault

    @staticmethod
    def error_response(
        fault: Fault,
        error_body: Callable[[int, str], Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Response | None:
        """The scripted status answer, shaped like the provider's errors; ``None`` if no status."""
        if fault.status is None:
            return None
        status = fault.status
        message = fault.message or _DEFAULT_MESSAGES.get(status, "simulated error")
        body = fault.body if fault.body is not None else error_body(status, message)
        all_headers = dict(headers or {})
        if fault.retry_after is not None:
            retry_after = fault.retry_after
            if isinstance(retry_after, float) and retry_after.is_integer():
                retry_after = int(retry_after)
            all_headers["retry-after"] = str(retry_after)
        return JSONResponse(body, status_code=status, headers=all_headers)

    def pick_seed(self, asked: int | None) -> int:
        """The asked seed, or (for 0 / -1 / none) the next one of a deterministic sequence."""
        if asked is not None and asked > 0:
            return asked
        with self._seed_lock:
            self._next_seed += 7_919
            return self._next_seed


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def route(method: str, path: str) -> Callable[[_Endpoint], _Endpoint]:
    """Mark a simulator's method as the endpoint of ``method path``; stacked, one method serves several."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        endpoint.__dict__.setdefault("simulator_routes", []).insert(0, (method, path))
        return endpoint

    return mark


def begun_post(path: str, *begin_args: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a simulator's handler as the endpoint of ``POST path``, whose one path parameter is
    ``name``: the simulator's ``_begin(request, name, *begin_args)`` runs first (what every call of
    the vendor checks); a response it gives answers at once, else the handler gets ``name`` and what
    it returned."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        async def endpoint(self: Any, name: str, request: Request) -> Response:
            begun = await self._begin(request, name, *begin_args)
            if isinstance(begun, Response):
                return begun
            answer: Response = await handler(self, name, *begun)
            return answer

        endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
        return route("POST", path)(endpoint)

    return wrap


class ProviderSimulator:
    """What every provider simulator is: an API key, a harness, and an app of its ``@route`` methods.

    A subclass sets up its own state, then calls ``super().__init__`` with its identity; the app
    serves its marked methods, in the order they are written, beside what the harness installs
    (the label, ``GET /``, the ``/_simulator`` API).
    """

    def __init__(self, provider: str, description: str, real_host: str, *, api_key: str) -> None:
        self.api_key = api_key
        self.harness = SimulatorHarness(provider, description=description, real_host=real_host)
        self.faults = self.harness.faults
        self.calls = self.harness.calls
        self.app = FastAPI(title=f"{description} SIMULATOR", docs_url=None, redoc_url=None, openapi_url=None)
        self.harness.install(self.app)
        for member in vars(type(self)).values():
            for method, path in getattr(member, "simulator_routes", ()):
                self.app.add_api_route(path, getattr(self, member.__name__), methods=[method])


class AsyncProviderSimulator(ProviderSimulator):
    """A provider simulator whose jobs run async: in progress for ``in_progress_polls`` polls, then done."""

    def __init__(
        self, provider: str, description: str, real_host: str, *, api_key: str, in_progress_polls: int
    ) -> None:
        self.in_progress_polls = in_progress_polls
        self.jobs = AsyncJobs()
        super().__init__(provider, description, real_host, api_key=api_key)


_DEFAULT_MESSAGES: dict[int, str] = {
    400: "bad request (simulated)",
    401: "unauthorized (simulated)",
    402: "insufficient balance (simulated)",
    403: "forbidden (simulated)",
    404: "not found (simulated)",
    413: "payload too large (simulated)",
    422: "unprocessable request (simulated)",
    429: "too many requests (simulated)",
    500: "internal server error (simulated)",
    502: "bad gateway (simulated)",
    503: "service unavailable (simulated)",
    504: "gateway timeout (simulated)",
}
