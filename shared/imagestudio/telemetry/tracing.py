"""Traces: one OpenTelemetry trace from the gateway request to the worker and its calls.

The path: the gateway's FastAPI span → the outbox row (W3C ``traceparent`` in the Dramatiq
message options under :data:`CONTEXT_OPTION`) → the worker's ``<actor>`` span
(:class:`imagestudio.telemetry.middleware.TelemetryMiddleware`) → ``storage.put`` spans and the
providers' HTTP calls (httpx instrumentation), each job span carrying ``imagestudio.job_id``.

``IMAGESTUDIO_TRACES_EXPORTER``: ``none`` (default), ``console`` or ``otlp`` (OTLP/HTTP to
``IMAGESTUDIO_OTLP_ENDPOINT``). With ``none`` no SDK provider exists: :func:`span` returns a
shared no-op context manager, nothing is added to messages and no app is instrumented, so
tracing costs one attribute check per call site.

Usage::

    configure_tracing(settings, service_name="imagestudio-gateway")
    with span("storage.put", storage_key=key, size_bytes=len(data)):
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind

from imagestudio.telemetry.logging import get_logger

if TYPE_CHECKING:
    from fastapi import FastAPI

    from imagestudio.config import Settings

log = get_logger(__name__)

#: Dramatiq message option carrying the W3C trace context (``traceparent``, ``tracestate``).
CONTEXT_OPTION = "trace_context"
#: Instrumentation scope name of our own spans.
TRACER_NAME = "imagestudio"
#: Span attribute naming the job (on the outbox message's publish span and the worker's job span).
JOB_ID_ATTRIBUTE = "imagestudio.job_id"

_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()
_NO_SPAN = contextlib.nullcontext()


def configure_tracing(
    settings: Settings, *, service_name: str, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Build this process's tracer provider once (None when tracing is off).

    ``exporter`` overrides the settings (tests pass an in-memory exporter); it is exported
    synchronously so a test sees every span as soon as it ends.
    """
    global _provider, _tracer
    if _provider is not None:
        return _provider
    if exporter is not None:
        processor: Any = SimpleSpanProcessor(exporter)
    elif settings.traces_exporter == "console":
        processor = BatchSpanProcessor(ConsoleSpanExporter())
    elif settings.traces_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    else:
        return None
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service_name, "deployment.environment": settings.environment}
        )
    )
    provider.add_span_processor(processor)
    _provider, _tracer = provider, provider.get_tracer(TRACER_NAME)
    _instrument_httpx(provider)
    log.info(
        "tracing.configured",
        service_name=service_name,
        exporter=type(exporter).__name__ if exporter else settings.traces_exporter,
    )
    return provider


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def tracing_enabled() -> bool:
    return _provider is not None


def get_tracer() -> trace.Tracer:
    return _tracer


def shutdown_tracing() -> None:
    """Flush and drop the provider (process exit, tests)."""
    global _provider, _tracer
    if _provider is None:
        return
    with contextlib.suppress(Exception):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().uninstrument()
    _provider.shutdown()
    _provider, _tracer = None, trace.NoOpTracer()


def _namespaced(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {f"imagestudio.{name}": value for name, value in attributes.items() if value is not None}


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one (keyword attributes become ``imagestudio.<name>``),
    or a shared no-op when tracing is off."""
    if _provider is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=_namespaced(attributes))


def set_attributes(**attributes: Any) -> None:
    """Add ``imagestudio.<name>`` attributes to the current span (no-op when off or no span)."""
    if _provider is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_namespaced(attributes))


def message_options(
    options: Mapping[str, Any] | None = None,
    *,
    queue_name: str,
    actor_name: str,
    job_id: str | None = None,
) -> dict[str, Any]:
    """Dramatiq message options carrying the trace context of a producer span for this message.

    Unchanged when tracing is off or no span is active (a message staged at start-up begins
    its own trace in the worker).
    """
    merged = dict(options or {})
    if _provider is None or not trace.get_current_span().get_span_context().is_valid:
        return merged
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "publish",
        "messaging.destination.name": queue_name,
        "imagestudio.actor": actor_name,
    }
    if job_id:
        attributes[JOB_ID_ATTRIBUTE] = job_id
    with _tracer.start_as_current_span(
        f"publish {queue_name}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        inject(carrier)
    merged[CONTEXT_OPTION] = carrier
    return merged


def instrument_app(app: FastAPI) -> None:
    """Give every gateway request a server span (no-op when tracing is off)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls="healthz,metrics,api/image-studio/health",
        exclude_spans=["receive", "send"],
    )


def _instrument_httpx(provider: TracerProvider) -> None:
    """Client spans (and traceparent headers) for every httpx call, provider clients included."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
