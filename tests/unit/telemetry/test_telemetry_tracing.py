"""Traces: one trace id from the gateway request through the outbox message to the worker and its
storage writes; with the exporter off nothing is recorded or carried."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from social_submit_support import submit
from sqlalchemy import select
from support import Embedded, use_settings

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.outbox import OutboxMessage
from imagestudio.telemetry import tracing


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_one_trace_from_request_through_worker_to_storage(
    spans: InMemorySpanExporter, embedded: Embedded
) -> None:
    key = embedded.new_key()
    job_id = submit(embedded, key)
    embedded.start_worker()
    assert embedded.wait_job(key, job_id)["status"] == "succeeded"
    embedded.drain()

    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.kind == SpanKind.SERVER and "optimize" in s.name]
    [publish] = [
        s for s in by_name(finished, "publish social") if s.attributes["imagestudio.job_id"] == job_id
    ]
    [worker] = [
        s for s in by_name(finished, "social.run_job") if s.attributes["imagestudio.job_id"] == job_id
    ]
    puts = [
        s for s in by_name(finished, "storage.put") if job_id in str(s.attributes["imagestudio.storage_key"])
    ]

    trace_id = request.context.trace_id
    assert {s.context.trace_id for s in [publish, worker, *puts]} == {trace_id}
    assert publish.kind == SpanKind.PRODUCER and worker.kind == SpanKind.CONSUMER
    assert worker.parent is not None and worker.parent.span_id == publish.context.span_id
    assert worker.attributes["imagestudio.studio"] == "social"
    assert worker.attributes["imagestudio.job_status"] == "succeeded"
    upload = [s for s in puts if "/inputs/" in str(s.attributes["imagestudio.storage_key"])]
    outputs = [s for s in puts if s.parent is not None and s.parent.span_id == worker.context.span_id]
    assert upload and outputs, [s.attributes for s in puts]
    assert all(s.resource.attributes["service.name"] == "test" for s in finished)


def test_tracing_off_records_nothing_and_carries_nothing(embedded: Embedded) -> None:
    assert not tracing.tracing_enabled()
    assert tracing.configure_tracing(get_settings(), service_name="off") is None
    assert tracing.span("storage.put", storage_key="k") is tracing.span("anything")  # one shared no-op
    key = embedded.new_key()
    submit(embedded, key)
    with session_scope() as session:
        options = [row.options for row in session.scalars(select(OutboxMessage))]
    assert options and all(tracing.CONTEXT_OPTION not in o for o in options)


@pytest.mark.parametrize("exporter", ["console", "otlp"])
def test_exporter_chosen_by_setting(exporter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    endpoints: list[str] = []

    class RecordingExporter(InMemorySpanExporter):
        def __init__(self, *, endpoint: str) -> None:
            super().__init__()
            endpoints.append(endpoint)

    monkeypatch.setattr(trace_exporter, "OTLPSpanExporter", RecordingExporter)
    monkeypatch.setenv("IMAGESTUDIO_TRACES_EXPORTER", exporter)
    use_settings(monkeypatch, IMAGESTUDIO_OTLP_ENDPOINT="http://127.0.0.1:9/")
    try:
        provider = tracing.configure_tracing(get_settings(), service_name="svc")
        assert provider is not None and tracing.tracing_enabled()
        assert provider.resource.attributes["service.name"] == "svc"
        assert endpoints == (["http://127.0.0.1:9/v1/traces"] if exporter == "otlp" else [])
    finally:
        tracing.shutdown_tracing()
        get_settings.cache_clear()
    assert not tracing.tracing_enabled()
