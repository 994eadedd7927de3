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
    """Every setting Image Studio reads; see the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="IMAGESTUDIO_", env_file=".env", extra="ignore", case_sensitive=False
    )

    environment: Environment = Environment.development
    #: Signs local-storage download links and other tokens. Required: ``make up`` writes one to .env.
    secret_key: SecretStr
    data_dir: Path = Path(".imagestudio")

    # --- HTTP -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    #: Absolute base URL clients reach the gateway on; used for Location and local file links.
    public_url: str = ""

    # --- database ---------------------------------------------------------------------------
    #: Empty means an SQLite file in ``data_dir``.
    database_url: str = ""
    database_pool_size: int = 10

    # --- broker -----------------------------------------------------------------------------
    #: ``memory://`` runs the in-process broker; ``amqp://user:pass@host:5672/vhost`` RabbitMQ.
    broker_url: str = "memory://"
    #: Run the outbox relay inside the gateway process (one per replica; rows are shared out).
    run_relay: bool = True
    #: Seconds the outbox relay waits between sweeps when nothing wakes it.
    outbox_poll_seconds: float = 1.0
    #: Worker threads per worker process.
    worker_threads: int = 4
    #: Job attempts (including redeliveries after a crash) before the job is failed.
    job_max_attempts: int = 3
    #: Dramatiq time limit for one job; kept below RabbitMQ's consumer timeout.
    job_time_limit_seconds: int = 600
    #: Longest retry backoff; kept below RabbitMQ's consumer timeout.
    job_max_backoff_seconds: int = 300
    job_min_backoff_seconds: float = 2.0

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

    # --- development aids -------------------------------------------------------------------
    #: Create a tenant and key on first ``imagestudio up`` in embedded mode and print the key.
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
        if self.job_time_limit_seconds >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
            raise ValueError(
                "IMAGESTUDIO_JOB_TIME_LIMIT_SECONDS must stay below RabbitMQ's 30-minute consumer timeout"
            )
        if self.job_max_backoff_seconds >= RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
            raise ValueError(
                "IMAGESTUDIO_JOB_MAX_BACKOFF_SECONDS must stay below RabbitMQ's 30-minute consumer timeout"
            )
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
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded_broker else "distributed"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache after changing the environment."""
    return Settings()  # type: ignore[call-arg,unused-ignore]
