"""The exception tree of Image Studio; ``gateway/problems.py`` turns it into RFC 9457 problems.

::

    ImageStudioError
    ├── InvalidRequest                 400
    │   └── ValidationFailed           422  (names the field)
    │       ├── InvalidImage           422  not an image, truncated, unsupported
    │       │   └── ImageChanged       422  (worker) a job's input is not the image the gateway checked
    │       ├── ImageTooLarge          413  over the byte or pixel limit, decompression bomb
    │       ├── RequestTooLarge        413  a body, form or form part over its limit
    │       └── OutputTooLarge         422  a lossless output over ``max_lossless_output_bytes``
    ├── Unauthorized                   401
    ├── Forbidden                      403
    ├── NotFound                       404
    ├── Conflict                       409
    ├── PaymentRequired                402
    ├── StorageQuotaExceeded           422  the tenant's stored bytes would pass its quota
    ├── RateLimited                    429  (retry_after seconds)
    │   ├── ConcurrencyLimited         429  too many jobs queued or running
    │   ├── StreamsLimited             429  too many event streams or ``Prefer: wait`` requests open
    │   └── FormBodiesLimited          429  too many multipart bytes being received at once
    ├── IdempotentReplay               the stored first response of an Idempotency-Key
    ├── JobError                       raised inside workers
    │   ├── PermanentJobError          fails the job at once, never retried
    │   ├── TransientJobError          retried with backoff
    │   ├── JobCrashed                 500  an unexpected error (its text stays in the logs)
    │   ├── WorkerLost                 500  the worker died during every allowed attempt
    │   ├── JobAbandoned               500  Dramatiq gave up on the job's message
    │   └── JobLost                    500  no worker finished it, even after re-staging
    ├── ProviderError                  an AI provider call failed
    │   ├── ProviderBadRequest         permanent
    │   ├── ProviderContentFiltered    permanent
    │   ├── ProviderRateLimited        transient, carries retry_after
    │   ├── ProviderUnavailable        transient (5xx, model loading, circuit open)
    │   ├── ProviderTimeout            transient
    │   ├── ProviderWorkFailed         work the provider accepted ended failed there (not re-polled)
    │   └── ProviderModelGone          the model or route is not served (404 on a model call, 410)
    ├── StorageError                   the object store failed
    ├── SecretUnreadable               no configured key opens a stored secret
    └── DatabaseUnavailable            503  the database cannot be reached (restart, failover)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PERMANENT_ERRORS",
    "ConcurrencyLimited",
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "IdempotentReplay",
    "ImageChanged",
    "ImageStudioError",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidRequest",
    "JobAbandoned",
    "JobCrashed",
    "JobError",
    "JobLost",
    "NotFound",
    "OutputTooLarge",
    "PaymentRequired",
    "PermanentJobError",
    "ProviderBadRequest",
    "ProviderContentFiltered",
    "ProviderError",
    "ProviderModelGone",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderWorkFailed",
    "RateLimited",
    "RequestTooLarge",
    "SecretUnreadable",
    "StorageError",
    "StorageQuotaExceeded",
    "StreamsLimited",
    "TransientJobError",
    "Unauthorized",
    "ValidationFailed",
    "WorkerLost",
]

#: Base of every problem type URI we publish.
PROBLEM_BASE = "https://imagestudio.dev/problems/"


class ImageStudioError(Exception):
    """Raised for any error Image Studio knows how to describe to a client."""

    status: int = 500
    title: str = "Internal error"
    slug: str = "internal"
    #: Whether ``detail`` may reach clients. When False (it names hosts, buckets, keys), clients
    #: get ``public_detail`` and the detail goes to the logs only.
    expose_detail: bool = True
    public_detail: str = "An internal error occurred; the operator's logs hold the cause."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body for this error (also stored on failed jobs)."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail if self.expose_detail else self.public_detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidRequest(ImageStudioError):
    """Raised when a request is malformed in a way no single field explains."""

    status, title, slug = 400, "Invalid request", "invalid-request"


class ValidationFailed(InvalidRequest):
    """Raised when one field of a request is invalid; the problem names the field."""

    status, title, slug = 422, "Validation failed", "validation-failed"

    def __init__(self, field: str, detail: str, **kwargs: Any) -> None:
        extra = kwargs.pop("extra", None) or {}
        extra.setdefault("errors", [{"field": field, "message": detail}])
        super().__init__(f"{field}: {detail}", extra={"field": field, **extra}, **kwargs)
        self.field = field


class InvalidImage(ValidationFailed):
    """Raised when an upload is not a decodable image (wrong type, truncated, corrupt)."""

    title, slug = "Invalid image", "invalid-image"


class ImageChanged(InvalidImage):
    """Raised in the worker when a job's input is not the image the gateway checked (replaced since)."""

    title, slug = "Image changed", "image-changed"


class RemoteImageRefused(ValidationFailed):
    """Raised when an image URL is malformed or names an address we never call (private, link-local, metadata)."""

    title, slug = "Image URL refused", "remote-image-refused"


class RemoteImageUnreachable(ValidationFailed):
    """Raised in the worker when an image URL gave no file (no answer in time, an error status, too many redirects)."""

    title, slug = "Image URL unreachable", "remote-image-unreachable"


class ImageTooLarge(ValidationFailed):
    """Raised when an image exceeds the byte or pixel limit, or is a decompression bomb."""

    status, title, slug = 413, "Image too large", "image-too-large"


class OverMemoryBudget(ImageTooLarge):
    """Raised when a job of this image would hold more memory than a worker has for one job."""

    title, slug = "Image over the memory budget", "image-over-memory-budget"

    def __init__(self, field: str, *, pixels: int, limit: int, detail: str) -> None:
        super().__init__(field, detail, extra={"pixels": pixels, "limit": limit})
        self.pixels, self.limit = pixels, limit


class RequestTooLarge(ValidationFailed):
    """Raised when a request body, or a form's file count, field count or one part, is over its limit."""

    status, title, slug = 413, "Request too large", "request-too-large"

    def __init__(self, detail: str, *, field: str = "body", limit: int) -> None:
        super().__init__(field, detail, extra={"limit": limit})
        self.limit = limit


class OutputTooLarge(ValidationFailed):
    """Raised when a lossless output (PNG, TIFF, BMP, GIF) would be, or is, over ``max_lossless_output_bytes``."""

    title, slug = "Output too large", "output-too-large"

    def __init__(self, field: str, detail: str, *, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            field,
            detail,
            extra={
                "limit": "max_lossless_output_bytes",
                "limit_bytes": limit_bytes,
                "output_bytes": size_bytes,
            },
        )


class Unauthorized(ImageStudioError):
    """Raised when a request carries no valid API key."""

    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="imagestudio"'})
        super().__init__(detail, **kwargs)


class Forbidden(ImageStudioError):
    """Raised when the tenant may not do what it asked (tier, studio, provider)."""

    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ImageStudioError):
    """Raised when a resource does not exist or belongs to another tenant."""

    status, title, slug = 404, "Not found", "not-found"


class Conflict(ImageStudioError):
    """Raised when a request conflicts with the resource's current state."""

    status, title, slug = 409, "Conflict", "conflict"


class PaymentRequired(ImageStudioError):
    """Raised when the tenant's balance does not cover the request."""

    status, title, slug = 402, "Insufficient credits", "insufficient-credits"


class StorageQuotaExceeded(ImageStudioError):
    """Raised when storing ``requested`` more bytes would take a tenant past its storage quota.

    422, not 507 Insufficient Storage: the tenant's own state refuses it, not the server's health
    (a 5xx would count against the error-rate alerts and invite clients to retry it as it is).
    """

    status, title, slug = 422, "Storage quota exceeded", "storage-quota-exceeded"

    def __init__(self, *, used: int, requested: int, quota: int, what: str) -> None:
        needs = f"{what} needs {requested} bytes" if requested else f"No room for {what.lower()}"
        super().__init__(
            f"{needs}; your tenant stores {used} of its {quota} byte quota. "
            "Delete uploads or assets (or let them expire) to make room.",
            extra={
                "limit": "max_stored_bytes",
                "used_bytes": used,
                "quota_bytes": quota,
                "requested_bytes": requested,
            },
        )
        self.used, self.requested, self.quota = used, requested, quota


class RateLimited(ImageStudioError):
    """Raised when a tenant exceeds its request rate or concurrency."""

    status, title, slug = 429, "Too many requests", "rate-limited"


def _quota_headers(
    policy: str, unit: str, *, allowed: int, retry_after: int, remaining: int = 0
) -> dict[str, str]:
    """``Retry-After`` and the IETF RateLimit headers of a quota (not a window) that is used up."""
    return {
        "Retry-After": str(retry_after),
        "RateLimit-Policy": f'"{policy}";q={allowed};qu="{unit}"',
        "RateLimit": f'"{policy}";r={max(remaining, 0)};t={retry_after}',
    }


class ConcurrencyLimited(RateLimited):
    """Raised when a tenant already has as many jobs queued or running as its plan allows."""

    def __init__(self, *, active: int, allowed: int) -> None:
        super().__init__(
            f"{active} jobs are queued or running; your plan allows {allowed} at once.",
            headers=_quota_headers("concurrency", "concurrent-requests", allowed=allowed, retry_after=5),
            extra={"limit": "max_concurrent_jobs", "allowed": allowed},
        )


class StreamsLimited(RateLimited):
    """Raised when a tenant already holds as many event streams (or ``Prefer: wait`` requests) open as allowed."""

    def __init__(self, *, policy: str, what: str, allowed: int, retry_after: int = 5) -> None:
        super().__init__(
            f"{allowed} {what} are already open for your tenant on this gateway; close one or retry later.",
            headers=_quota_headers(policy, "concurrent-requests", allowed=allowed, retry_after=retry_after),
            extra={"limit": policy, "allowed": allowed},
        )


class FormBodiesLimited(RateLimited):
    """Raised when a gateway already receives as many multipart bytes as allowed, for the tenant or in all."""

    def __init__(
        self, detail: str, *, policy: str, allowed: int, remaining: int, retry_after: int = 2
    ) -> None:
        super().__init__(
            f"{detail} Retry in {retry_after} s.",
            headers=_quota_headers(
                policy, "content-bytes", allowed=allowed, retry_after=retry_after, remaining=remaining
            ),
            extra={"limit": policy, "allowed": allowed},
        )


class IdempotentReplay(ImageStudioError):
    """Raised when a racing request with the same Idempotency-Key committed first: answer its response."""

    status, title, slug = 200, "Replayed", "replayed"

    def __init__(self, *, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__("replayed")
        self.response_status, self.body, self.response_headers = status, body, headers


class JobError(ImageStudioError):
    """Raised inside a worker when a job cannot complete."""

    title, slug = "Job failed", "job-failed"


class PermanentJobError(JobError):
    """Raised when retrying a job cannot help; the job fails at once."""

    status, title, slug = 422, "Job failed", "job-failed"


class TransientJobError(JobError):
    """Raised when a job step failed in a way a retry may fix."""

    status, title, slug = 503, "Temporarily unavailable", "temporarily-unavailable"


class JobCrashed(JobError):
    """Raised (stored on the job) when a job failed on an unexpected error; clients never see its text."""

    title, slug = "Job failed", "internal"

    def __init__(self, *, attempts: int) -> None:
        super().__init__(
            "The job failed on an internal error; the operator's logs hold the cause.",
            extra={"attempts": attempts},
        )


class WorkerLost(JobError):
    """Raised (stored on the job) when its worker stopped during every attempt it was allowed."""

    title, slug = "Worker lost", "worker-lost"

    def __init__(self, *, max_attempts: int, attempts: int) -> None:
        super().__init__(
            f"The worker stopped during this job {max_attempts} times; giving up.",
            extra={"attempts": attempts},
        )


class JobAbandoned(JobError):
    """Raised (stored on the job) when Dramatiq gave up on the job's message (retries spent, expired)."""

    title, slug = "Job abandoned", "job-abandoned"

    def __init__(self, *, retries: int, reason: str) -> None:
        super().__init__(f"Gave up after {retries} retries: {reason}")


class JobLost(JobError):
    """Raised (stored on the job) when no worker finished it, even after its message was staged again."""

    title, slug = "Job lost", "job-lost"

    def __init__(self, *, lease_expired: bool, restages: int, attempts: int) -> None:
        what = "its worker stopped renewing its lease" if lease_expired else "no worker claimed its message"
        super().__init__(
            f"The job did not run to its end: {what}, after its message was staged again "
            f"{restages} time(s). Nothing was charged; submit it again.",
            extra={"attempts": attempts},
        )


class ProviderError(ImageStudioError):
    """Raised when an AI provider call fails."""

    status, title, slug = 502, "Provider error", "provider-error"
    retryable: bool = False

    def __init__(self, detail: str | None = None, *, provider: str = "", **kwargs: Any) -> None:
        extra = kwargs.pop("extra", None) or {}
        if provider:
            extra.setdefault("provider", provider)
        super().__init__(detail, extra=extra, **kwargs)
        self.provider = provider


class ProviderBadRequest(ProviderError):
    """Raised when a provider rejects the request as invalid (never retried)."""

    status, title, slug = 422, "Provider rejected the request", "provider-bad-request"


class ProviderContentFiltered(ProviderError):
    """Raised when a provider's content filter refuses the prompt or output (never retried)."""

    status, title, slug = 422, "Content filtered", "content-filtered"


class ProviderRateLimited(ProviderError):
    """Raised when a provider answers 429; ``retry_after`` is its delay in seconds.

    ``lockout_seconds`` is set when the vendor locks the whole key out for that long (Stability):
    the provider's shared circuit is then held open, so no worker calls inside the lockout.
    """

    status, title, slug = 503, "Provider rate limited", "provider-rate-limited"
    retryable = True

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: float | None = None,
        lockout_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
        self.lockout_seconds = lockout_seconds


class ProviderUnavailable(ProviderError):
    """Raised when a provider is down, overloaded, loading a model, or its circuit is open."""

    status, title, slug = 503, "Provider unavailable", "provider-unavailable"
    retryable = True

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """Raised when a provider call exceeds its timeout."""

    status, title, slug = 504, "Provider timeout", "provider-timeout"
    retryable = True


class ProviderWorkFailed(ProviderError):
    """Raised when work a provider accepted (a paid prediction) ended failed, cancelled or timed out there.

    Polling it again cannot help; only a new submission can, and that is a new charge.
    """

    status, title, slug = 502, "Provider work failed", "provider-work-failed"


class ProviderModelGone(ProviderError):
    """Raised when a provider no longer serves the model or route called (404 model not found, 410 Gone).

    Not a refusal of the prompt: the job moves on to the next candidate, and the model is marked
    unavailable in provider health so later plans skip it.
    """

    status, title, slug = 502, "Provider model gone", "provider-model-gone"


class StorageError(ImageStudioError):
    """Raised when the object store cannot read or write an object."""

    status, title, slug = 503, "Storage unavailable", "storage-unavailable"
    expose_detail = False
    public_detail = "The object store could not serve this request; try again shortly."


class SecretUnreadable(ImageStudioError):
    """Raised when none of ``IMAGESTUDIO_SECRETS_KEYS`` opens a stored secret (a key was dropped too soon)."""

    status, title, slug = 500, "Secret unreadable", "secret-unreadable"
    expose_detail = False


class DatabaseUnavailable(ImageStudioError):
    """Raised when the database drops or refuses the connection (a restart or failover): retry shortly."""

    status, title, slug = 503, "Database unavailable", "database-unavailable"
    expose_detail = False
    public_detail = "The database could not serve this request; try again shortly."
    #: Seconds a client should wait; a restart or failover takes a few.
    retry_after_seconds = 2

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(self.retry_after_seconds)})
        super().__init__(detail, **kwargs)


#: Errors no retry can fix: a job fails on the first one (an output over the tenant's storage
#: quota too: its credits are released and what it wrote is withdrawn, freeing the room again).
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentJobError,
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderModelGone,
    StorageQuotaExceeded,
    ValidationFailed,
)
