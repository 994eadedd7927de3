"""Traces: one OpenTelemetry trace from the gateway request to the worker and its calls.

The path: the gateway's FastAPI span → the outbox row (W3C ``traceparent`` in the Dramatiq
message options under :data:`CONTEXT_OPTION`) → the worker's ``<actor>`` span
(:class:`imagestudio.telemetry.middleware.TelemetryMiddleware`) → ``storage.put`` spans and the
providers' HTTP calls (httpx instrumentation), each job span carrying ``imagestudio.job_id``.

``What leaves the process is contained twice. Span attributes, event attributes and status
descriptions are exported with credentials in URLs replaced by ``REDACTED`` (our ``/files``
links' ``signature``, presigned URLs' ``X-Amz-Signature`` and kin, user:password; see
:func:`redact`). And calls made inside :func:`no_propagation` (every request through the egress
guard, every provider call) carry no ``traceparent``, ``tracestate`` or ``baggage``: a tenant's
webhook receiver or a vendor learns nothing of our traces, while the client span is still
recorded on our side.

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
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import get_global_textmap, inject, set_global_textmap
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status
from opentelemetry.util.types import Attributes

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

#: Query parameters whose values are credentials: our ``/files`` links, S3 (SigV4 and the legacy
#: V2 form), Google Cloud Storage, Azure SAS, and the usual API-key and token names.
SECRET_QUERY_PARAMETERS = (
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "awsaccesskeyid",
    "x-goog-signature",
    "x-goog-credential",
    "key",
    "api_key",
    "apikey",
    "token",
    "access_token",
)
REDACTED = "REDACTED"
_SECRET_PARAMETER = re.compile(
    r"(^|[?&;])(" + "|".join(map(re.escape, SECRET_QUERY_PARAMETERS)) + r")=[^&#;\s'\"]*",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@", re.IGNORECASE)

_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()
_propagator: TextMapPropagator | None = None
_NO_SPAN = contextlib.nullcontext()
_NO_PROPAGATION = otel_context.create_key("imagestudio.no_propagation")


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
    provider.add_span_processor(_Redacting(processor))
    _provider, _tracer = provider, provider.get_tracer(TRACER_NAME)
    _contain_propagation()
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
    global _propagator
    if _propagator is not None:
        set_global_textmap(_propagator)
        _propagator = None


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


# --- what leaves the process -------------------------------------------------------------------
def redact(value: str) -> str:
    """``value`` with credentials in any URL or query string in it replaced by ``REDACTED``."""
    if "=" in value:
        value = _SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}", value)
    if "@" in value:
        value = _USERINFO.sub(rf"\1{REDACTED}@", value)
    return value


def _redacted(attributes: Attributes) -> Attributes:
    """The attributes with every string (or string in a sequence) redacted; the same object when
    nothing changed."""
    if not attributes:
        return attributes
    out: dict[str, Any] = {}
    changed = False
    for name, value in attributes.items():
        new: Any = value
        if isinstance(value, str):
            new = redact(value)
        elif isinstance(value, Sequence) and any(isinstance(item, str) for item in value):
            items = tuple(redact(item) if isinstance(item, str) else item for item in value)
            new = items if items != tuple(value) else value
        changed = changed or new != value
        out[name] = new
    return out if changed else attributes


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` as it may leave the process (itself when it holds no credential)."""
    attributes = _redacted(span.attributes)
    events = [
        event
        if (a := _redacted(event.attributes)) is event.attributes
        else Event(event.name, a, event.timestamp)
        for event in span.events
    ]
    description = span.status.description
    status = span.status
    if description and (clean := redact(description)) != description:
        status = Status(span.status.status_code, clean)
    if (
        attributes is span.attributes
        and status is span.status
        and all(new is old for new, old in zip(events, span.events, strict=True))
    ):
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class _Redacting(SpanProcessor):
    """Hands the exporting processor each ended span with credentials redacted (:func:`redact`).

    Redacting at the end, not the start, covers attributes instrumentations set late too.
    """

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(redacted_span(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


@contextlib.contextmanager
def no_propagation() -> Iterator[None]:
    """Requests made inside carry none of our trace context (``traceparent``, ``tracestate``,
    ``baggage``); their client spans are still recorded.

    For every call to a party outside the service: tenants' webhook receivers, the addresses
    providers point us to, the providers' APIs. Our own hops (the outbox's message options)
    keep propagating.
    """
    token = otel_context.attach(otel_context.set_value(_NO_PROPAGATION, True))
    try:
        yield
    finally:
        otel_context.detach(token)


class _ContainedPropagator(TextMapPropagator):
    """The process's propagator, injecting nothing inside :func:`no_propagation`."""

    def __init__(self, inner: TextMapPropagator) -> None:
        self.inner = inner

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        return self.inner.extract(carrier, context, getter)

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        if otel_context.get_value(_NO_PROPAGATION, context):
            return
        self.inner.inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        return self.inner.fields


def _contain_propagation() -> None:
    """Wrap the global propagator (once) so :func:`no_propagation` holds for every instrumentation."""
    global _propagator
    current = get_global_textmap()
    if isinstance(current, _ContainedPropagator):
        return
    _propagator = current
    set_global_textmap(_ContainedPropagator(current))
