"""Prometheus metrics shared by the gateway and workers (names: ``imagestudio_*``, units in names)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "imagestudio_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "imagestudio_http_request_duration_seconds", "HTTP request latency by route", ["method", "route"]
)
JOBS_ACCEPTED = Counter("imagestudio_jobs_accepted_total", "Jobs accepted by the gateway", ["studio"])
REQUESTS_REFUSED = Counter("imagestudio_requests_refused_total", "Requests refused by reason", ["reason"])
JOBS_FINISHED = Counter(
    "imagestudio_jobs_finished_total", "Jobs finished by studio and outcome", ["studio", "status"]
)
JOB_DURATION = Histogram(
    "imagestudio_job_duration_seconds",
    "Time a job spent running (one delivery)",
    ["studio"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
JOB_QUEUED = Histogram(
    "imagestudio_job_queued_seconds",
    "Time from acceptance to the first start",
    ["studio"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)
