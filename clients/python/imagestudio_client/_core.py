"""What the sync and async clients share: configuration, request building, answers, retries, SSE, images.

The clients only move bytes: each call is described here as a :class:`Call`, sent by the sync or
async transport loop, and its answer parsed here.
"""

from __future__ import annotations

import email.utils
import io
import os
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeAlias

import httpx

from imagestudio_client._errors import ImageStudioError, JobFailedError, error_for
from imagestudio_client._models import JobData, JobEvent, JobOutput, SocialPlan

#: The API's path under the service's URL.
API_PREFIX = "/api/image-studio"
#: Statuses worth another try: rate limited, or the service briefly unavailable.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Longest wait a ``Retry-After`` may impose before the SDK gives up instead.
MAX_RETRY_AFTER_SECONDS = 60.0
#: Statuses a presigned link answers once it has expired (local links 404, S3 ones 403).
EXPIRED_LINK_STATUSES = frozenset({401, 403, 404, 410})

#: Body fields that hold an image (sent as an upload id or a URL).
IMAGE_FIELDS = frozenset(
    {"image", "mask", "background_reference", "light_reference", "style_image", "init_image"}
)
#: A studio method's arguments that are not fields of the body it sends.
_NOT_FIELDS = frozenset({"self", "idempotency_key", "on_upload", "timeout", "options"})


def fields_of(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A studio method's body fields from its arguments (its ``locals()`` before anything else): each
    named one (an image among them is uploaded by ``submit``), then its ``**options``; ``self``, the
    idempotency key, the upload callback and a wait's ``timeout`` are not sent."""
    fields = {name: value for name, value in arguments.items() if name not in _NOT_FIELDS}
    return {**fields, **arguments.get("options", {})}


#: Each studio's catalogue route (social's platforms have their own methods).
CATALOGUES = {
    "edit": "/edit/operations",
    "control": "/control/operations",
    "upscale": "/upscale/modes",
    "compress": "/compress/options",
}
#: An image: a path, its bytes, an open binary file, the id of an upload (``upl_...``), or an
#: ``https://`` URL the service's worker fetches (``http://`` on loopback where the service allows it).
ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | IO[bytes]"


@dataclass(frozen=True)
class TransferProgress:
    """Bytes moved so far of one upload or of a job's downloads."""

    name: str
    done_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class JobProgress:
    """A job's state while waiting: status, progress in 0..1 and the worker's message."""

    job_id: str
    status: str
    progress: float
    message: str


TransferCallback = Callable[[TransferProgress], None]
JobCallback = Callable[[JobProgress], None]


@dataclass(frozen=True)
class Config:
    """Where the service is and how to talk to it; from arguments, else ``IMAGESTUDIO_URL`` / ``IMAGESTUDIO_API_KEY``."""

    base_url: str
    api_key: str
    timeout: float
    max_retries: int
    #: Seconds between status polls; None: 0.25 s doubling to 2 s.
    poll_interval: float | None = None

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float,
        max_retries: int,
        poll_interval: float | None = None,
    ) -> Config:
        url = base_url or os.environ.get("IMAGESTUDIO_URL")
        key = api_key or os.environ.get("IMAGESTUDIO_API_KEY")
        if not url:
            raise ImageStudioError("no service URL: pass base_url or set IMAGESTUDIO_URL")
        if not key:
            raise ImageStudioError("no API key: pass api_key or set IMAGESTUDIO_API_KEY")
        url = url.rstrip("/")
        if not url.endswith(API_PREFIX):
            url += API_PREFIX
        if poll_interval is not None and poll_interval <= 0:
            raise ImageStudioError("poll_interval must be more than 0 seconds")
        return cls(
            base_url=url, api_key=key, timeout=timeout, max_retries=max_retries, poll_interval=poll_interval
        )

    def headers(self) -> dict[str, str]:
        from imagestudio_client import __version__

        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": f"imagestudio-client/{__version__}"}


@dataclass
class Call:
    """One API request, independent of the transport that sends it."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: dict[str, tuple[str, IO[bytes], str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        return client.build_request(
            self.method, self.path, params=params, json=self.json, files=self.files, headers=self.headers
        )


def catalogue_path(studio: str) -> str:
    """The route of a studio's catalogue; a studio without one is an error before any request."""
    try:
        return CATALOGUES[studio]
    except KeyError:
        raise ImageStudioError(f"no catalogue for {studio!r}: one of {', '.join(CATALOGUES)}") from None


def submission(
    path: str, body: dict[str, Any], idempotency_key: str | None, *, wait: int | None = None
) -> Call:
    """A job-creating POST; the Idempotency-Key (ours unless given) makes every retry the same job.
    With ``wait`` the service answers the ended job if it ends within that many seconds."""
    key = idempotency_key or f"isc-{uuid.uuid4().hex}"
    clean = {k: v for k, v in body.items() if v is not None}
    headers = {"Idempotency-Key": key}
    if wait is not None:
        headers["Prefer"] = f"wait={wait}"
    return Call("POST", path, json=clean, headers=headers)


#: Seconds a crop plan is waited for in its own request (``Prefer: wait``) before it is followed.
PLAN_WAIT = 10


def social_plan_of(job: JobData) -> SocialPlan:
    """The plan a finished plan job carries (its ``plan`` output's metadata)."""
    if job.status != "succeeded":
        raise JobFailedError(job.id, job.status, job.error)
    for output in job.outputs:
        if output.name == "plan":
            return SocialPlan.model_validate(output.metadata)
    raise ImageStudioError(f"job {job.id} succeeded without a plan output")


def parse(response: httpx.Response) -> Any:
    """The answer's JSON (None for 204), or the typed error its problem+json describes."""
    if response.status_code >= 400:
        raise error_for(response.status_code, problem_of(response), dict(response.headers))
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"status": response.status_code, "title": response.reason_phrase, "detail": response.text[:500]}


def retry_delay(attempt: int, response: httpx.Response | None, *, max_retries: int) -> float | None:
    """Seconds before try ``attempt + 1``, or None when the answer stands (or the tries ran out).

    ``response`` is None after a connection error. ``Retry-After`` (seconds or an HTTP date) wins
    over the exponential backoff; one longer than a minute is not waited for.
    """
    if attempt >= max_retries:
        return None
    if response is not None and response.status_code not in RETRY_STATUSES:
        return None
    backoff = float(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2))
    if response is None:
        return backoff
    after = retry_after_seconds(response.headers.get("Retry-After"))
    if after is None:
        return backoff
    return after if after <= MAX_RETRY_AFTER_SECONDS else None


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def poll_delay(attempt: int, interval: float | None = None) -> float:
    """Seconds between status polls when the event stream is not available: ``interval``, else 0.25 s doubling to 2 s."""
    if interval is not None:
        return interval
    return float(min(2.0, 0.25 * 2 ** min(attempt, 3)))


def stream_reconnect_delay(failures: int) -> float:
    return float(min(5.0, 0.1 * 2 ** (failures - 1)))


# --- images -------------------------------------------------------------------------------------


def is_upload_id(value: object) -> bool:
    return isinstance(value, str) and value.startswith("upl_")


def names_image(value: object) -> bool:
    """Whether ``value`` names an image the service reads itself (an upload id or a URL): sent as it is."""
    return is_upload_id(value) or (isinstance(value, str) and value.startswith(("https://", "http://")))


@dataclass(frozen=True)
class ImageFile:
    """An image to upload before the job names it: its name and bytes."""

    name: str
    data: bytes


def image_file(value: ImageInput, *, field_name: str) -> ImageFile:
    """The bytes of an image given as a path, bytes or a binary file object."""
    if isinstance(value, bytes | bytearray):
        return ImageFile(f"{field_name}.bin", bytes(value))
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise ImageStudioError(f"{field_name}: {path} is not a file (nor an upload id upl_...)")
        return ImageFile(path.name, path.read_bytes())
    if hasattr(value, "read"):
        data = value.read()
        if not isinstance(data, bytes):
            raise ImageStudioError(f"{field_name}: open the file in binary mode ('rb')")
        return ImageFile(Path(getattr(value, "name", f"{field_name}.bin")).name, data)
    raise ImageStudioError(f"{field_name}: give a path, bytes, a binary file, an upload id or a URL")


class ProgressReader(io.BytesIO):
    """The bytes of an upload, reporting each chunk httpx reads (and starting over on a retry's seek)."""

    def __init__(self, name: str, data: bytes, callback: TransferCallback | None) -> None:
        super().__init__(data)
        self.name = name
        self._total = len(data)
        self._callback = callback

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if self._callback is not None:
            self._callback(TransferProgress(self.name, self.tell(), self._total))
        return chunk


def upload_call(file: ImageFile, on_progress: TransferCallback | None) -> Call:
    reader = ProgressReader(file.name, file.data, on_progress)
    return Call("POST", "/uploads", files={"file": (file.name, reader, "application/octet-stream")})


# --- events -------------------------------------------------------------------------------------


class SSEDecoder:
    """Server-Sent Events, line by line (the WHATWG rules this service's stream uses)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        #: The ``id`` of the frame being read, if it had one (never carried to the next frame here).
        self._frame_id: str | None = None

    def feed(self, line: str) -> JobEvent | None:
        """The event a blank line completes, else None. Skipped: comments, ``retry:``, the gateway's
        ``stream.closed`` (the stream ends and is resumed from the last id) and every frame without an
        ``id`` (the job's recorded events all carry one; ``job.queue`` frames and any frame a newer
        gateway adds do not, so an older client keeps working)."""
        line = line.rstrip("\r\n")
        if not line:
            data, self._data = self._data, []
            event, self._event = self._event, ""
            frame_id, self._frame_id = self._frame_id, None
            if not data or event == "stream.closed" or frame_id is None:
                return None
            return JobEvent.model_validate_json("\n".join(data))
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._frame_id = value
        return None


def event_progress(event: JobEvent, last: JobProgress) -> JobProgress:
    """The job's progress after an event."""
    if event.type == "job.progress":
        return JobProgress(
            event.job_id,
            "running",
            float(event.data.get("progress", last.progress)),
            str(event.data.get("message", last.message)),
        )
    status = event.type.removeprefix("job.")
    progress = 1.0 if status == "succeeded" else last.progress
    return JobProgress(event.job_id, status, progress, last.message if status == "running" else status)


def job_progress(job: JobData) -> JobProgress:
    return JobProgress(job.id, job.status, job.progress, job.progress_message or job.status)


# --- downloads ----------------------------------------------------------------------------------


def download_plan(outputs: list[JobOutput], folder: Path) -> list[tuple[JobOutput, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    return [(output, folder / output.local_name) for output in outputs]


def link_expired(output: JobOutput) -> bool:
    return output.expires_at <= datetime.now(UTC)


def fresh_outputs(job: Mapping[str, Any] | JobData) -> dict[str, JobOutput]:
    data = job if isinstance(job, JobData) else JobData.model_validate(job)
    return {output.id: output for output in data.outputs}
