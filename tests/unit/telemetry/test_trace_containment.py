"""What traces let out: no credential in an exported span, no trace context sent to third parties.

Receivers live on loopback (127.0.0.1); nothing else receives traffic.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from support import Embedded
from unit.webhooks.webhook_receiver import Receiver

from imagestudio.egress import EgressGuard, GuardedTransport
from imagestudio.providers.http import HttpProvider
from imagestudio.telemetry import tracing

API = "/api/image-studio"
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
SECRETS = ("s3cr3tsig", "AKIAEXAMPLE", "t0kenvalue", "hunter2")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def exported_text(span: ReadableSpan) -> str:
    """Everything of a span an exporter would send that could hold a URL."""
    parts = [span.name, str(span.status.description or "")]
    parts += [f"{k}={v!s}" for k, v in (span.attributes or {}).items()]
    for event in span.events:
        parts += [f"{k}={v!s}" for k, v in (event.attributes or {}).items()]
    return " ".join(parts)


@pytest.fixture
def with_baggage() -> Iterator[None]:
    """A baggage entry in the current context, so a leak would send a ``baggage`` header."""
    token = otel_context.attach(baggage.set_baggage("tenant", "t_secret"))
    try:
        yield
    finally:
        otel_context.detach(token)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "http://gw/api/image-studio/files/a/b.png?expires=17&signature=s3cr3tsig",
            "http://gw/api/image-studio/files/a/b.png?expires=17&signature=REDACTED",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F2026"
            "&X-Amz-Security-Token=t0kenvalue&X-Amz-Signature=s3cr3tsig",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED"
            "&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED",
        ),
        ("expires=17&signature=s3cr3tsig", "expires=17&signature=REDACTED"),
        ("https://u:hunter2@example.com/x?sig=s3cr3tsig", "https://REDACTED@example.com/x?sig=REDACTED"),
        ("/api/image-studio/files/a.png", "/api/image-studio/files/a.png"),
        ("imagestudio.storage_key=tenants/x/key=1", "imagestudio.storage_key=tenants/x/key=1"),
    ],
)
def test_redact_replaces_credential_values_only(value: str, expected: str) -> None:
    assert tracing.redact(value) == expected


def test_files_signature_is_not_exported_from_gateway_spans(
    spans: InMemorySpanExporter, embedded: Embedded
) -> None:
    response = embedded.client.get(f"{API}/files/tenants/x/outputs/a.png?expires=1&signature=s3cr3tsig")
    assert response.status_code in (403, 404), response.text
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and "files" in s.name]
    text = exported_text(server)
    assert "/files/tenants/x/outputs/a.png" in text  # the span is about this request
    assert "signature=REDACTED" in text and "s3cr3tsig" not in text, text


def test_presigned_url_credentials_are_not_exported_from_client_spans(
    spans: InMemorySpanExporter, receiver: Receiver
) -> None:
    url = (
        f"{receiver.url}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101"
        "&X-Amz-Security-Token=t0kenvalue&X-Amz-Signature=s3cr3tsig&sig=s3cr3tsig"
    )
    with httpx.Client(transport=httpx.HTTPTransport(retries=0)) as client:
        assert client.get(url).status_code == 200
    [client_span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    text = exported_text(client_span)
    assert "X-Amz-Signature=REDACTED" in text, text
    assert not any(secret in text for secret in SECRETS), text


def test_guarded_egress_carries_no_trace_context_but_is_traced(
    spans: InMemorySpanExporter, receiver: Receiver, with_baggage: None
) -> None:
    with tracing.span("parent"):
        with httpx.Client(transport=httpx.HTTPTransport(retries=0)) as client:
            client.post(receiver.url, content=b"{}")  # our own call: the context goes along
        guarded = GuardedTransport(EgressGuard(allow_loopback=True), httpx.HTTPTransport(retries=0))
        with httpx.Client(transport=guarded) as client:
            client.post(receiver.url, content=b"{}")
    ours, theirs = receiver.requests
    assert "traceparent" in ours.headers and "baggage" in ours.headers  # the test can see a leak
    assert not set(TRACE_HEADERS) & set(theirs.headers), theirs.headers
    clients = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert len(clients) == 2  # the guarded call is still recorded on our side


def test_provider_calls_carry_no_trace_context(
    spans: InMemorySpanExporter, receiver: Receiver, with_baggage: None
) -> None:
    with tracing.span("job"), HttpProvider(api_key="k", base_url=receiver.url) as provider:
        provider._send("POST", receiver.url, json={})
    [received] = receiver.requests
    assert received.headers["authorization"] == "Bearer k"
    assert not set(TRACE_HEADERS) & set(received.headers), received.headers
