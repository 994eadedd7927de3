"""Image Studio's Python SDK: ``ImageStudio`` (sync) and ``AsyncImageStudio`` need only a URL and an API key.

from imagestudio_client import ImageStudio

client = ImageStudio()                      # IMAGESTUDIO_URL, IMAGESTUDIO_API_KEY
outputs = client.run("social", "photo.jpg", platforms=["instagram"])   # submit, wait, the outputs
job = client.social.optimize("photo.jpg", platforms=["instagram"]).wait()
job.download("out")
"""

from __future__ import annotations

__version__ = "0.1.0"

from imagestudio_client._async import AsyncBatchResult, AsyncImageStudio, AsyncJob
from imagestudio_client._core import ImageInput, JobProgress, TransferProgress
from imagestudio_client._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DownloadError,
    ImageStudioError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
    WebhookVerificationError,
)
from imagestudio_client._models import (
    Asset,
    BatchJob,
    Credits,
    CropBox,
    CustomFormat,
    FormatPlan,
    JobEvent,
    JobOutput,
    Persona,
    SocialPlan,
    Upload,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from imagestudio_client._sync import BatchResult, ImageStudio, Job
from imagestudio_client._webhooks import Webhooks, webhooks

__all__ = [
    "APIConnectionError",
    "APIError",
    "Asset",
    "AsyncBatchResult",
    "AsyncImageStudio",
    "AsyncJob",
    "AuthenticationError",
    "BadRequestError",
    "BatchJob",
    "BatchResult",
    "ConflictError",
    "Credits",
    "CropBox",
    "CustomFormat",
    "DownloadError",
    "FormatPlan",
    "ImageInput",
    "ImageStudio",
    "ImageStudioError",
    "Job",
    "JobEvent",
    "JobFailedError",
    "JobOutput",
    "JobProgress",
    "JobTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Persona",
    "RateLimitError",
    "ServerError",
    "SocialPlan",
    "TransferProgress",
    "Upload",
    "ValidationError",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookVerificationError",
    "Webhooks",
    "__version__",
    "webhooks",
]
