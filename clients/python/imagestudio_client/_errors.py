"""The SDK's exceptions.

ImageStudioError                  every error this SDK raises
├── APIError                      the service answered with a problem+json (type, title, status, detail, field)
│   ├── BadRequestError           400
│   ├── AuthenticationError       401
│   ├── PaymentRequiredError      402 (not enough credits)
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404 (or another tenant's)
│   ├── ConflictError             409 (e.g. cancelling a finished job)
│   ├── PayloadTooLargeError      413
│   ├── ValidationError           422 (names the field)
│   ├── RateLimitError            429 (after the retries ran out)
│   └── ServerError               5xx (after the retries ran out)
├── APIConnectionError            the service could not be reached (after the retries ran out)
├── JobTimeoutError               ``wait`` gave up before the job ended
├── JobFailedError                ``run``'s job failed or was canceled (its problem in ``problem``)
├── DownloadError                 an output could not be fetched whole
└── WebhookVerificationError      a webhook's signature or timestamp did not verify
"""

from __future__ import annotations

from typing import Any


class ImageStudioError(Exception):
    """Raised for every error of this SDK."""


class APIError(ImageStudioError):
    """Raised when the service answers with an error (its RFC 9457 problem, field by field)."""

    def __init__(
        self, problem: dict[str, Any], *, status: int, headers: dict[str, str] | None = None
    ) -> None:
        self.problem = problem
        self.status: int = int(problem.get("status") or status)
        self.type: str = str(problem.get("type") or "about:blank")
        self.title: str = str(problem.get("title") or "HTTP error")
        self.detail: str = str(problem.get("detail") or "")
        self.field: str | None = problem.get("field")
        self.instance: str | None = problem.get("instance")
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        self.headers = headers or {}
        super().__init__(
            f"{self.status} {self.title}: {self.detail}" if self.detail else f"{self.status} {self.title}"
        )


class BadRequestError(APIError):
    """Raised on a 400."""


class AuthenticationError(APIError):
    """Raised on a 401: the API key is missing or invalid."""


class PaymentRequiredError(APIError):
    """Raised on a 402: not enough credits."""


class PermissionDeniedError(APIError):
    """Raised on a 403."""


class NotFoundError(APIError):
    """Raised on a 404 (the service answers 404 for another tenant's objects too)."""


class ConflictError(APIError):
    """Raised on a 409, e.g. cancelling a job that has already ended."""


class PayloadTooLargeError(APIError):
    """Raised on a 413: a file over the byte or pixel limit."""


class ValidationError(APIError):
    """Raised on a 422; ``field`` names the first field at fault, ``errors`` lists all."""


class RateLimitError(APIError):
    """Raised on a 429 once the retries ran out."""


class ServerError(APIError):
    """Raised on a 5xx once the retries ran out."""


class APIConnectionError(ImageStudioError):
    """Raised when the service cannot be reached once the retries ran out."""


class JobTimeoutError(ImageStudioError):
    """Raised when ``wait`` gives up before the job ends (the job goes on)."""


class JobFailedError(ImageStudioError):
    """Raised by ``run`` when its job ends failed or canceled; ``problem`` is the job's error."""

    def __init__(self, job_id: str, status: str, problem: dict[str, Any] | None) -> None:
        self.job_id, self.status, self.problem = job_id, status, problem or {}
        text = " ".join(str(part) for part in (self.problem.get("title"), self.problem.get("detail")) if part)
        super().__init__(f"job {job_id} {status}: {text}" if text else f"job {job_id} {status}")


class DownloadError(ImageStudioError):
    """Raised when an output cannot be fetched, or arrives with another size than announced."""


class WebhookVerificationError(ImageStudioError):
    """Raised when a webhook's signature, id or timestamp does not verify."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
}


def error_for(status: int, problem: dict[str, Any], headers: dict[str, str] | None = None) -> APIError:
    """The typed error for a status and its problem body."""
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(problem, status=status, headers=headers)
