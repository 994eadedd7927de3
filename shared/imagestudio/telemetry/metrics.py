"""Prometheus metrics shared by the gateway and workers, and their exposition.

Names are ``imagestudio_*`` with units in them. Every metric of every process is declared here, so
the gateway, the workers and the Grafana/Prometheus files agree on one list (a test checks that
the dashboard and the alert rules query only names declared here and really exported).

Who records what:

- the gateway's HTTP middleware: ``http_*``, ``jobs_accepted``, ``requests_refused``;
- :mod:`imagestudio.telemetry.middleware` (Dramatiq hooks): ``messages_*``, ``message_*``
  (``messages_deferred`` by :mod:`imagestudio.deferral`),
  ``jobs_started``, ``jobs_finished``, ``job_duration``, ``job_queued``;
- provider clients and resilience: ``provider_*``; webhook delivery: ``webhook_*``;
  credits: ``credits_*``; the job sweeper (beside each outbox relay): ``jobs_resurrected``,
  ``jobs_lost``;
- :mod:`imagestudio.telemetry.queues` (gateway scrape time): ``queue_*``, ``outbox_*``,
  ``broker_up``.

Multi-process: when ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's own switch, read by
the library when it is imported) every process writes its samples there and whichever process is
scraped serves the aggregate; gauges declare how they combine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: Job run times: social renders take a second, provider calls tens of seconds, the limit is 600 s.
JOB_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: Provider round trips: an image model answers in seconds, a slow one in a minute or two.
PROVIDER_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)

# --- gateway -------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "imagestudio_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "imagestudio_http_request_duration_seconds", "HTTP request latency by route", ["method", "route"]
)
JOBS_ACCEPTED = Counter("imagestudio_jobs_accepted_total", "Jobs accepted by the gateway", ["studio"])
REQUESTS_REFUSED = Counter(
    "imagestudio_requests_refused_total",
    "Job submissions refused, by reason (auth, credits, validation, rate_limit, too_large, forbidden)",
    ["reason"],
)

# --- Dramatiq messages (what dramatiq's Prometheus middleware exports, under our names) -------
MESSAGES = Counter(
    "imagestudio_messages_total", "Messages a worker processed, by queue and actor", ["queue", "actor"]
)
MESSAGE_ERRORS = Counter(
    "imagestudio_message_errors_total", "Messages whose actor raised", ["queue", "actor"]
)
MESSAGE_RETRIES = Counter(
    "imagestudio_message_retries_total", "Messages scheduled again after an error", ["queue", "actor"]
)
MESSAGES_DEFERRED = Counter(
    "imagestudio_messages_deferred_total",
    "Messages put back behind the others because their tenant was at its share of the workers",
    ["queue", "actor", "reason"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "imagestudio_messages_dead_lettered_total",
    "Messages given up on (retries exhausted or expired) and moved to the dead-letter queue",
    ["queue", "actor"],
)
MESSAGES_IN_PROGRESS = Gauge(
    "imagestudio_messages_in_progress",
    "Messages being processed now",
    ["queue", "actor"],
    multiprocess_mode="livesum",
)
MESSAGE_DURATION = Histogram(
    "imagestudio_message_duration_seconds",
    "Time an actor spent on one message",
    ["queue", "actor"],
    buckets=JOB_SECONDS_BUCKETS,
)

# --- jobs ----------------------------------------------------------------------------------
JOBS_STARTED = Counter(
    "imagestudio_jobs_started_total", "Job deliveries a worker claimed (redeliveries included)", ["studio"]
)
JOBS_FINISHED = Counter(
    "imagestudio_jobs_finished_total",
    "Jobs that ended, by studio, status (succeeded, failed, canceled), reason and provider",
    ["studio", "status", "reason", "provider"],
)
JOB_DURATION = Histogram(
    "imagestudio_job_duration_seconds",
    "Time a job spent running (one delivery)",
    ["studio"],
    buckets=JOB_SECONDS_BUCKETS,
)
JOB_QUEUED = Histogram(
    "imagestudio_job_queued_seconds",
    "Time from acceptance to the first start",
    ["studio"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)
JOBS_RESURRECTED = Counter(
    "imagestudio_jobs_resurrected_total",
    "Jobs whose message the sweeper staged again, by studio and reason (unclaimed, lease_expired)",
    ["studio", "reason"],
)
JOBS_LOST = Counter(
    "imagestudio_jobs_lost_total",
    "Jobs the sweeper failed after their last allowed re-stage (problem type job-lost)",
    ["studio"],
)

# --- providers -------------------------------------------------------------------------------
PROVIDER_REQUESTS = Counter(
    "imagestudio_provider_requests_total",
    "Calls to an image provider, by provider and HTTP status (or error, timeout, circuit_open)",
    ["provider", "status"],
)
PROVIDER_LATENCY = Histogram(
    "imagestudio_provider_request_duration_seconds",
    "Round-trip time of provider calls",
    ["provider"],
    buckets=PROVIDER_SECONDS_BUCKETS,
)
PROVIDER_RETRIES = Counter(
    "imagestudio_provider_retries_total", "Provider calls retried after a transient error", ["provider"]
)
PROVIDER_FALLBACKS = Counter(
    "imagestudio_provider_fallbacks_total",
    "Times a studio moved on from a provider to the next one",
    ["studio", "provider"],
)
PROVIDER_MODEL_GONE = Gauge(
    "imagestudio_provider_model_gone",
    "1 once the vendor answered that it no longer serves the model (404 on its call, 410), 0 once served again",
    ["provider", "model"],
    multiprocess_mode="livemax",
)
PROVIDER_CIRCUIT_OPEN = Gauge(
    "imagestudio_provider_circuit_open",
    "1 while the provider's circuit breaker is open (calls refused), else 0",
    ["provider"],
    multiprocess_mode="livemax",
)

# --- webhooks and credits --------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "imagestudio_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, failed, abandoned)",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "imagestudio_webhook_delivery_duration_seconds",
    "Time a subscriber took to answer a webhook",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CREDITS_CAPTURED = Counter(
    "imagestudio_credits_captured_total", "Credits captured for finished jobs", ["studio"]
)
CREDITS_REFUNDED = Counter(
    "imagestudio_credits_refunded_total", "Credits released or refunded for failed jobs", ["studio"]
)

# Names of the series :mod:`imagestudio.telemetry.queues` yields at scrape time (gateway only).
QUEUE_MESSAGES = "imagestudio_queue_messages"
QUEUE_CONSUMERS = "imagestudio_queue_consumers"
QUEUE_OLDEST_JOB_AGE = "imagestudio_queue_oldest_job_age_seconds"
OUTBOX_PENDING = "imagestudio_outbox_pending_messages"
OUTBOX_OLDEST_AGE = "imagestudio_outbox_oldest_pending_age_seconds"
BROKER_UP = "imagestudio_broker_up"


# --- exposition ------------------------------------------------------------------------------
def multiprocess_mode() -> bool:
    """Whether prometheus-client writes samples to ``PROMETHEUS_MULTIPROC_DIR``."""
    return values.ValueClass is not values.MutexValue


class _Union:
    """Several collectors exposed as one (the process's registry plus scrape-time collectors)."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def exposition_registry(*extra: Collector) -> _Union:
    """What ``/metrics`` serves: this process's metrics (or every process's, in multi-process
    mode) plus ``extra`` collectors evaluated at scrape time."""
    if multiprocess_mode():
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    return _Union([base, *extra])


def render_metrics(*extra: Collector) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(exposition_registry(*extra)), CONTENT_TYPE_LATEST


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the job logs."""


class MetricsServer:
    """A worker's HTTP endpoint: ``/metrics`` for Prometheus, ``/healthz`` for probes."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_server(
    port: int, *, host: str = "127.0.0.1", healthy: Callable[[], bool] = lambda: True
) -> MetricsServer | None:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` from a daemon thread.

    Returns None when the port is taken: in multi-process mode another worker process on this
    host already serves the aggregate, which includes this process's samples.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"unhealthy\n"]
        if path in ("/metrics", "/"):
            body, content_type = render_metrics()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    try:
        server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        log.warning("metrics.port_in_use", host=host, port=port, error=repr(exc))
        return None
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    log.info("metrics.serving", host=host, port=server.server_address[1])
    return MetricsServer(server, thread)


def mark_process_dead(pid: int) -> None:
    """Drop a finished process's live gauges from the multi-process aggregate."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
