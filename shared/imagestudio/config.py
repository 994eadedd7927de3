"""Settings: one pydantic-settings class read from ``IMAGESTUDIO_*`` variables (and ``.env``).

Nothing configured means the embedded mode: SQLite file, local-folder storage, in-process
broker with every worker inside the one process. Pointing ``database_url`` at PostgreSQL,
``broker_url`` at RabbitMQ and ``storage_backend`` at ``s3`` gives the distributed mode; the code
paths are the same, only the adapters differ.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Placeholder values that must never reach a non-development deployment.
_PLACEHOLDER_SECRETS = {"changethis", "change-me", "secret", ""}

#: RabbitMQ closes a channel whose delivery stays unacked longer than this (Debian's 3.10 default).
RABBITMQ_CONSUMER_TIMEOUT_SECONDS = 30 * 60


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every setting Image Studio reads; see docs/settings.md."""

    model_config = SettingsConfigDict(
        env_prefix="IMAGESTUDIO_", env_file=".env", extra="ignore", case_sensitive=False
    )

    environment: Environment = Environment.development
    #: Signs local-storage download links and other tokens. Required: ``make up`` writes one to .env.
    secret_key: SecretStr
    #: Comma-separated Fernet keys sealing stored secrets (webhook signing secrets): the first seals,
    #: all open. Empty outside production: one key derived from ``secret_key``.
    secrets_keys: SecretStr = SecretStr("")
    data_dir: Path = Path(".imagestudio")

    # --- HTTP -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    #: Absolute base URL clients reach the gateway on; used for Location and local file links.
    public_url: str = ""
    #: Connections plus requests in flight one gateway process takes before it answers 503
    #: (uvicorn's ``limit_concurrency``; 0 = no cap). Open event streams count.
    http_limit_concurrency: int = Field(default=1000, ge=0)
    #: Seconds an idle kept-alive connection stays open (uvicorn's ``timeout_keep_alive``).
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    #: Seconds a client has from opening a connection (or the next request's first byte) to the end
    #: of its request headers; then 408 and the connection is closed (uvicorn has no such timeout).
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Proxy addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated,
    #: ``*`` for any): behind an ingress, its addresses, so each client's address is its own
    #: (the failed-authentication limit counts per address).
    forwarded_allow_ips: str = "127.0.0.1"

    # --- database ---------------------------------------------------------------------------
    #: Empty means an SQLite file in ``data_dir``.
    database_url: str = ""
    database_pool_size: int = 10

    # --- broker -----------------------------------------------------------------------------
    #: ``memory://`` runs the in-process broker; ``amqp://user:pass@host:5672/vhost`` RabbitMQ.
    broker_url: str = "memory://"
    #: Run the outbox relay inside the gateway process (one per replica; rows are shared out).
    run_relay: bool = True
    #: With PostgreSQL and RabbitMQ, ``imagestudio up`` runs that relay in a process of its own
    #: (``imagestudio relay``, woken by PostgreSQL's NOTIFY) rather than in the gateway's, where
    #: it took a fifth of the gateway's CPU per submission (bench/README.md, "Relay process").
    relay_process: bool = True
    #: Seconds the outbox relay waits between sweeps when nothing wakes it.
    outbox_poll_seconds: float = 1.0
    #: With ``outbox_relay_pipelined`` (the default), batches in flight on the one relay thread's
    #: channel. Without it, relay threads per process on PostgreSQL, each with its own RabbitMQ
    #: connection: while one waits for a batch's confirms, another publishes what was committed.
    outbox_relay_lanes: int = Field(default=3, ge=1, le=16)
    #: On PostgreSQL with RabbitMQ, one relay thread pipelining up to ``outbox_relay_lanes`` batches
    #: on one confirm-mode channel instead of the lanes (false: the lanes). On since alternating
    #: quiet-machine P2 runs: its median and p99 at or below the lanes' idle and at 50 % load, and
    #: 10-30 % less relay CPU per message (bench/README.md, "Issue 31, the relay: quiet P2,
    #: session 6").
    outbox_relay_pipelined: bool = True
    #: Seconds a busy relay (its last batch had rows a moment ago) lets commits gather before it
    #: takes the next batch: more rows per claim, publish and commit, so less CPU per message.
    #: An idle relay publishes at once. 0: never gather.
    outbox_gather_seconds: float = Field(default=0.002, ge=0, le=0.1)
    #: Threads a gateway process lends job submissions' database work at once; the others wait
    #: on the event loop, where waiting costs nothing. Thirty-two submissions each in a thread
    #: contending for the GIL served a third fewer jobs than eight (bench/README.md, "Threads").
    gateway_submit_threads: int = Field(default=8, ge=1, le=64)
    #: On PostgreSQL, commit a warm JSON submission (no files, URLs, webhook, key or wait) from the
    #: event loop over async psycopg instead of a thread. On a quiet machine it used 1.29 against
    #: 2.03 ms of gateway CPU per job and accepted 599 against 431 jobs/s (bench/README.md, issue 31
    #: fifth pass). Off: every submission's database work in a thread, as on SQLite.
    gateway_submit_on_loop: bool = True
    #: Worker threads per worker process, at most: a worker runs fewer when its memory holds
    #: fewer jobs at its studio's largest input (``imagestudio.studios.memory``).
    worker_threads: int = Field(default=4, ge=1)
    #: Memory of one worker process (its pod's limit). With the memory model it sets each
    #: worker's threads and each job's pixel budget; the gateway refuses (413) what is over it.
    worker_memory_bytes: int = Field(default=4 * 1024**3, ge=512 * 1024**2)
    #: Jobs one tenant may run at once in one studio (in embedded mode, where one pool of threads
    #: runs every studio, in all studios together); a message past it waits behind the others.
    #: None: ``worker_threads - 1`` (at least 1), so another tenant's job always finds a thread.
    tenant_max_running_jobs: int | None = Field(default=None, ge=1)
    #: Seconds a message waits when its tenant is at that cap (doubling per wait, up to 8 times
    #: this, with jitter); the wait is no retry: it spends no attempt.
    tenant_defer_seconds: float = Field(default=1.0, gt=0, le=60)
    #: Job attempts (including redeliveries after a crash) before the job is failed.
    job_max_attempts: int = 3
    #: Dramatiq time limit for one job; kept below RabbitMQ's consumer timeout.
    job_time_limit_seconds: int = 600
    #: Longest retry backoff; kept below RabbitMQ's consumer timeout.
    job_max_backoff_seconds: int = 300
    job_min_backoff_seconds: float = 2.0
    #: A running job's lease: a worker renews it while it runs; past it (the worker died) the
    #: sweeper re-stages the job and another worker takes it over.
    job_lease_seconds: float = Field(default=60.0, ge=3, le=1200)
    #: A queued (or re-staged) job not claimed this long after its message was staged has lost it.
    job_claim_timeout_seconds: float = Field(default=300.0, gt=0)
    #: Messages the sweeper stages again for one job before failing it (``job-lost``).
    job_max_restages: int = Field(default=3, ge=0)
    #: Seconds between the job sweeper's passes (it runs beside each outbox relay).
    job_sweep_seconds: float = Field(default=30.0, gt=0)
    #: A queued job's ``estimated_start_seconds`` comes from its studio's starts in this window.
    job_start_rate_window_seconds: float = Field(default=600.0, ge=10, le=86_400)

    # --- storage ----------------------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = "local"
    #: Local storage folder; empty means ``data_dir/objects``.
    storage_path: Path | None = None
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "imagestudio"
    s3_region: str = "us-east-1"
    s3_secure: bool = True
    #: Lifetime of presigned download links.
    url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    # --- limits -----------------------------------------------------------------------------
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    #: How far in (the largest crop's side over the crop's) the social optimizer may zoom to place faces
    #: or the subject inside a format's safe zone; 1.0 never zooms. At most 1 / MIN_ZOOM (1.4286).
    social_max_zoom: float = Field(default=1.25, ge=1.0, le=1.4286)
    #: Lifetime of an upload (``POST /uploads``); expired uploads are refused, then swept from storage.
    upload_ttl_seconds: int = Field(default=86_400, ge=1)
    #: Seconds between sweeps (in each gateway) deleting expired uploads and their objects.
    upload_sweep_seconds: float = Field(default=600.0, gt=0)
    #: Age at which a job's outputs (assets) are deleted with their objects, freeing the tenant's
    #: storage quota; favourites are kept. 0 keeps assets until the tenant deletes them.
    asset_retention_seconds: int = Field(default=30 * 86_400, ge=0)
    #: Seconds between sweeps (in each gateway) deleting assets older than ``asset_retention_seconds``.
    asset_sweep_seconds: float = Field(default=600.0, gt=0)
    #: Largest output of a lossless format (PNG, TIFF, BMP, GIF) a compress or convert job may store:
    #: a BMP whose size (known from the header) is over it is refused at submission, any other
    #: lossless output over it fails its job ``output-too-large``.
    max_lossless_output_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: Largest request body of a route that takes JSON (or no body); 413 over it, by Content-Length
    #: before anything is read, or while streaming a chunked body.
    max_json_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Largest request body of a route that takes multipart image files (studios, ``POST /uploads``):
    #: bounds the temporary disk a form spools to; each file is further held to ``max_upload_bytes``.
    max_form_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: Multipart bodies being received at once by one gateway process, in bytes (each counted at its
    #: Content-Length, or at ``max_form_request_bytes`` when chunked), in all and per tenant: 429
    #: past either. The gateway pod's ``/tmp`` holds what they spool (docs/capacity.md).
    max_form_bytes_in_flight: int = Field(default=192 * 1024 * 1024, ge=1024)
    max_form_bytes_in_flight_per_tenant: int = Field(default=128 * 1024 * 1024, ge=1024)
    #: Most files, non-file fields and bytes of one non-file field a multipart form may carry (413).
    max_form_files: int = Field(default=4, ge=1)
    max_form_fields: int = Field(default=50, ge=1)
    max_form_field_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Open Server-Sent Event streams (``GET /jobs/{id}/events``) per tenant, in each gateway process.
    max_event_streams_per_tenant: int = Field(default=10, ge=0)
    #: ``Prefer: wait`` requests one tenant may hold open at once, in each gateway process.
    max_waits_per_tenant: int = Field(default=10, ge=0)
    #: Longest an event stream stays open; then it ends with a ``stream.closed`` event (reason ``lifetime``).
    max_stream_seconds: float = Field(default=3600.0, gt=0)
    #: Seconds between re-checks of the API key of an open event stream or ``Prefer: wait``: a revoked
    #: key ends the stream (``stream.closed``, reason ``unauthorized``) or answers the wait 401.
    stream_key_check_seconds: float = Field(default=5.0, gt=0, le=60)
    #: Where the per-tenant request counters live (the ``limits`` library, moving window): None
    #: means ``memory://`` (this process only, the embedded mode); ``redis://host:6379/0`` shares
    #: them across every gateway replica.
    rate_limit_storage_url: str | None = None
    #: Prefix of every rate-limit key in that storage, so deployments (or test runs) can share a Redis.
    rate_limit_key_prefix: str = "imagestudio"
    #: Most requests a gateway takes from a tenant's Redis window in one round trip and counts down in
    #: memory (``hit_async``); a lease is at most 1 % of the limit, so limits under 200 are counted one
    #: request at a time. 0 or 1 = every request its own round trip.
    rate_limit_lease: int = Field(default=32, ge=0, le=1000)
    #: Refused API keys one client address may present per minute (moving window, in the rate-limit
    #: storage); past it every key from that address not already known valid is answered 429 with
    #: Retry-After before it is looked up. 0 = no limit.
    max_auth_failures_per_minute: int = Field(default=20, ge=0)
    #: Seconds a process keeps an authenticated API key and a tenant's limits (0 = no cache); a revoked
    #: key or a changed limit reaches every other process within this time.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # --- telemetry --------------------------------------------------------------------------
    #: Port of a worker's /metrics and /healthz endpoint (0 = off); the gateway serves both on its own port.
    metrics_port: int = Field(default=9191, ge=0, le=65535)
    #: Where traces go: none (default, costs nothing), console (stdout) or otlp (OTLP/HTTP).
    traces_exporter: Literal["none", "console", "otlp"] = "none"
    #: Base URL of the OTLP/HTTP collector; ``/v1/traces`` is appended.
    otlp_endpoint: str = "http://127.0.0.1:4318"

    # --- images given by URL ------------------------------------------------------------------
    #: Let image URLs be ``http://`` on loopback (local development, tests); private and metadata
    #: ranges stay refused, and every other URL must be ``https://``.
    remote_image_allow_loopback: bool = False
    #: Seconds a worker gives one image URL, redirects and body included; then the job fails.
    remote_image_timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    # --- webhooks and live events -------------------------------------------------------------
    #: Let webhook URLs reach loopback (local development, tests); private and metadata ranges stay refused.
    webhook_allow_loopback: bool = False
    #: Seconds before each delivery attempt (Standard Webhooks' schedule, about 3 days); then failed.
    webhook_retry_schedule_seconds: list[float] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400], min_length=1
    )
    #: Timeout of one webhook request (connect, write, each read).
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    #: Longest one webhook attempt may take in total, reading the answer included (a receiver
    #: trickling bytes is cut off here); below the deliver actor's time limit.
    webhook_attempt_deadline_seconds: float = Field(default=15.0, gt=0, le=60)
    #: Longest delay one queued delivery message carries; longer waits re-stage (below the consumer timeout).
    webhook_max_message_delay_seconds: float = Field(default=900.0, gt=0)
    #: Deliveries in a row that spend every retry before an endpoint is disabled.
    webhook_disable_after_failed_deliveries: int = Field(default=5, ge=1)
    #: Attempts in a row that fail (time out, refuse, answer an error) before a per-job
    #: ``webhook_url`` is disabled for its tenant: later deliveries to it fail without a request.
    webhook_disable_target_after_failed_attempts: int = Field(default=10, ge=1)
    #: Deliveries one tenant may have in flight at once in a worker pool; a message past it waits
    #: behind the others. None: ``worker_threads - 1`` (at least 1).
    webhook_tenant_max_in_flight: int | None = Field(default=None, ge=1)
    #: ``POST /webhooks/deliveries/{id}/redeliver`` calls per tenant per minute (429 past it).
    webhook_redeliveries_per_minute: int = Field(default=30, ge=1)
    #: Seconds between sweeps that re-stage deliveries whose message was lost.
    webhook_sweep_seconds: float = Field(default=60.0, gt=0)
    #: Seconds between the gateway's polls of job events (one query feeds every SSE stream and wait).
    events_poll_seconds: float = Field(default=0.25, gt=0, le=5)
    #: Seconds a process remembers that a tenant has no webhook endpoint (0: always look).
    webhook_endpoint_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # --- AI providers (create studio) -------------------------------------------------------
    #: Per provider: API key (empty = not configured) and base URL (the real host by default).
    stability_api_key: SecretStr = SecretStr("")
    stability_base_url: str = "https://api.stability.ai"
    wavespeed_api_key: SecretStr = SecretStr("")
    wavespeed_base_url: str = "https://api.wavespeed.ai"
    huggingface_api_key: SecretStr = SecretStr("")
    huggingface_base_url: str = "https://router.huggingface.co"
    gemini_api_key: SecretStr = SecretStr("")
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    #: Embedded ``up`` starts labelled local simulators for providers without a key; None = on in embedded mode.
    simulate_providers: bool | None = None
    #: Timeout of one provider HTTP call.
    provider_timeout_seconds: float = Field(default=60.0, gt=0, le=300)
    #: Calls per provider (first try included) before auto mode falls back to the next provider.
    provider_max_attempts: int = Field(default=3, ge=1, le=10)
    #: First retry wait; doubles per attempt with +/-20% jitter.
    provider_retry_base_seconds: float = Field(default=1.0, ge=0)
    #: Longest wait a worker thread sleeps between calls; a longer Retry-After re-schedules the job.
    provider_max_wait_seconds: float = Field(default=20.0, ge=0, le=120)
    #: Interval and deadline of asynchronous provider polling (WaveSpeed predictions).
    provider_poll_interval_seconds: float = Field(default=1.0, gt=0, le=30)
    provider_poll_deadline_seconds: float = Field(default=300.0, gt=0, le=900)
    #: Edit/upscale async provider work (creative upscale, relight, WaveSpeed edits): seconds between
    #: polls, each poll a new delayed message (Stability asks for >= 10 s between polls).
    async_poll_interval_seconds: float = Field(default=10.0, gt=0, le=60)
    #: Longest an edit/upscale async result is waited for (over many messages) before the job fails.
    async_poll_deadline_seconds: float = Field(default=1200.0, gt=0, le=86_400)
    #: Circuit breaker: consecutive failures that open it, seconds before a trial call, error-rate window.
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_cooldown_seconds: float = Field(default=30.0, gt=0)
    circuit_window_seconds: float = Field(default=60.0, gt=0)

    # --- development aids -------------------------------------------------------------------
    #: Create a tenant and key on first ``imagestudio up`` in embedded mode and print the key
    #: (never in production: no dev tenant is made there).
    dev_bootstrap: bool = True
    #: Test-only fault injection: seconds a worker sleeps after each output (crash tests).
    debug_output_delay_seconds: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == Environment.production:
            if self.secret_key.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError("IMAGESTUDIO_SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("IMAGESTUDIO_SECRET_KEY must be at least 32 characters in production")
            if not self.secrets_keys.get_secret_value().strip():
                raise ValueError("IMAGESTUDIO_SECRETS_KEYS must hold at least one Fernet key in production")
        for key in filter(None, (k.strip() for k in self.secrets_keys.get_secret_value().split(","))):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    "IMAGESTUDIO_SECRETS_KEYS holds a value that is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with `imagestudio secrets new-key`)"
                ) from None
        if not (
            self.max_form_request_bytes
            <= self.max_form_bytes_in_flight_per_tenant
            <= self.max_form_bytes_in_flight
        ):
            raise ValueError(
                "IMAGESTUDIO_MAX_FORM_BYTES_IN_FLIGHT_PER_TENANT must lie between "
                "IMAGESTUDIO_MAX_FORM_REQUEST_BYTES (one whole form fits) and "
                "IMAGESTUDIO_MAX_FORM_BYTES_IN_FLIGHT"
            )
        if self.job_time_limit_seconds >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
            raise ValueError(
                "IMAGESTUDIO_JOB_TIME_LIMIT_SECONDS must stay below RabbitMQ's 30-minute consumer timeout"
            )
        if self.job_max_backoff_seconds >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
            raise ValueError(
                "IMAGESTUDIO_JOB_MAX_BACKOFF_SECONDS must stay below RabbitMQ's 30-minute consumer timeout"
            )
        if self.webhook_max_message_delay_seconds >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
            raise ValueError(
                "IMAGESTUDIO_WEBHOOK_MAX_MESSAGE_DELAY_SECONDS must stay below RabbitMQ's 30-minute consumer timeout"
            )
        if any(delay < 0 for delay in self.webhook_retry_schedule_seconds):
            raise ValueError("IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS must not hold negative delays")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'imagestudio.db').resolve()}"

    @property
    def resolved_storage_path(self) -> Path:
        return (self.storage_path or self.data_dir / "objects").resolve()

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def amqp_url(self) -> str:
        """The RabbitMQ URL with a heartbeat: long enough for an idle publisher, short enough to spot dead peers."""
        url = self.broker_url
        if "heartbeat=" not in url:
            url += ("&" if "?" in url else "?") + "heartbeat=60"
        return url

    @property
    def resolved_tenant_max_running_jobs(self) -> int:
        """A tenant's running jobs per studio (per pool): the setting, or one thread left for others."""
        return self.tenant_max_running_jobs or max(1, self.worker_threads - 1)

    @property
    def resolved_webhook_tenant_max_in_flight(self) -> int:
        """A tenant's deliveries in flight at once: the setting, or one thread left for others."""
        return self.webhook_tenant_max_in_flight or max(1, self.worker_threads - 1)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded_broker else "distributed"

    @property
    def simulators_enabled(self) -> bool:
        """Whether ``up`` starts local simulators for providers without a key (embedded mode only)."""
        wanted = self.embedded_broker if self.simulate_providers is None else self.simulate_providers
        return wanted and self.embedded_broker


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache after changing the environment."""
    return Settings()  # type: ignore[call-arg,unused-ignore]
