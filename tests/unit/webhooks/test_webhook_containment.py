"""What a tenant's webhook receiver gets from us and what the tenant sees of its answers.

The attempt log is shown to the tenant, so a receiver's answer is kept only as a status code and,
for a failure, a short printable excerpt of a text or JSON body; the request carries none of our
trace context. Receivers live on 127.0.0.1.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from support import Embedded, wait_for
from webhook_api import register, submit, wait_delivery
from webhook_receiver import Receiver

from imagestudio.egress import EgressGuard
from imagestudio.webhooks.sending import RESPONSE_EXCERPT_CHARS, Outcome, send

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
#: What an internal service might answer: never to be shown to the tenant in full.
LEAK = "AccessKeyId=ASIAEXAMPLE SecretAccessKey=wJalrXUtnFEMI/K7MDENG Token=IQoJb3JpZ2luX2VjE" * 8


class Answering:
    """A loopback receiver answering every POST with one scripted status, headers and body."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        answer = (status, body, headers or {})

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                code, content, extra = answer
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Answering:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def attempt(status: int, body: bytes = b"", **headers: str) -> Outcome:
    with Answering(status, body, {k.replace("_", "-"): v for k, v in headers.items()}) as receiver:
        return send(
            EgressGuard(allow_loopback=True),
            url=receiver.url,
            signing_secrets=[SECRET],
            msg_id="msg_test",
            body="{}",
            transport=None,
        )


@pytest.fixture
def settings(hooks: Embedded) -> Iterator[None]:
    """The webhook settings of the ``hooks`` stack (loopback allowed, short timeouts)."""
    yield


@pytest.mark.parametrize("status", [200, 201, 204, 202])
def test_nothing_of_a_successful_answer_is_kept(settings: None, status: int) -> None:
    body = b"" if status == 204 else LEAK.encode()
    outcome = attempt(status, body, content_type="text/plain")
    assert outcome.ok and outcome.excerpt is None and outcome.error is None


def test_a_failure_keeps_a_short_printable_excerpt_of_a_text_body(settings: None) -> None:
    outcome = attempt(
        500, b"upstream\r\n\x1b[31mdown\x00 " + LEAK.encode(), content_type="text/plain; charset=utf-8"
    )
    assert outcome.status_code == 500 and outcome.error == "HTTP 500"
    assert outcome.excerpt is not None and len(outcome.excerpt) <= RESPONSE_EXCERPT_CHARS
    assert outcome.excerpt.startswith(
        "upstream [31mdown AccessKeyId=ASIAEXAMPLE"
    ) and outcome.excerpt.endswith("…")
    assert outcome.excerpt.isprintable() and LEAK not in outcome.excerpt


def test_a_json_problem_is_excerpted(settings: None) -> None:
    outcome = attempt(422, b'{"title": "bad signature"}', content_type="application/problem+json")
    assert outcome.excerpt == '{"title": "bad signature"}'


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/octet-stream", "application/xml", "image/png", ""]
)
def test_a_failure_body_of_another_type_is_not_kept(settings: None, content_type: str) -> None:
    headers = {"content_type": content_type} if content_type else {}
    outcome = attempt(503, b"<html>" + LEAK.encode(), **headers)
    assert outcome.status_code == 503 and outcome.excerpt is None


def test_a_compressed_failure_body_is_not_unpacked(settings: None) -> None:
    outcome = attempt(500, b"\x1f\x8b\x08\x00", content_type="text/plain", content_encoding="gzip")
    assert outcome.excerpt is None


def test_a_redirect_names_only_the_origin_it_points_to(settings: None) -> None:
    outcome = attempt(302, LEAK.encode(), location="http://10.0.0.7:8080/latest/meta-data/iam?token=abc")
    assert outcome.error == "redirect to http://10.0.0.7:8080 not followed" and outcome.excerpt is None
    relative = attempt(301, location="/elsewhere?secret=1")
    assert relative.error == "redirect to a path on the same host not followed"


def test_the_attempt_log_shows_no_body_of_the_answers(hooks: Embedded) -> None:
    key = hooks.new_key()
    with Receiver([500, 200]) as failing_once:
        register(hooks, key, failing_once.url, event_types=["job.succeeded"])
        hooks.start_worker()
        job = submit(hooks, key)
        delivery = wait_delivery(hooks, key, "succeeded", job_id=job["id"])
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    # The receiver answers "ok" without a content type: neither answer's body is shown.
    assert [a["response_excerpt"] for a in delivery["attempt_log"]] == [None, None]


def test_tenant_webhooks_carry_no_trace_context(
    spans: InMemorySpanExporter, hooks: Embedded, receiver: Receiver
) -> None:
    key = hooks.new_key()
    register(hooks, key, receiver.url)
    hooks.start_worker()
    submit(hooks, key)
    wait_for(lambda: receiver.of_type("job.succeeded"), what="the job.succeeded webhook")
    hooks.drain("webhooks")
    assert {r.json["type"] for r in receiver.requests} >= {"job.queued", "job.succeeded"}
    for request in receiver.requests:
        assert not {"traceparent", "tracestate", "baggage"} & set(request.headers), request.headers
    posts = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name == "POST"]
    assert len(posts) >= len(receiver.requests)  # each POST is traced on our side (instrumentation on)
