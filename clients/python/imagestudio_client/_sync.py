"""The synchronous client: ``ImageStudio(base_url, api_key)``.

Generated from ``_async.py`` by ``scripts/unasync_client.py``: edit that file, then run the script.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import PrivateAttr

from imagestudio_client import _core as core
from imagestudio_client._core import Call, ImageInput, JobCallback, TransferCallback
from imagestudio_client._errors import (
    APIConnectionError,
    APIError,
    DownloadError,
    JobFailedError,
    JobTimeoutError,
    error_for,
)
from imagestudio_client._models import (
    BatchJob,
    BatchStudio,
    Credits,
    CropBox,
    CustomFormat,
    JobData,
    JobEvent,
    JobOutput,
    JobStatus,
    SocialPlan,
    Studio,
    Upload,
)
from imagestudio_client._primitives import Lock, sleep, thread_map
from imagestudio_client._sync_library import Assets, Personas, Templates, WebhooksAPI, pages


class Job(JobData):
    """A job, bound to the client that fetched it: ``refresh``, ``wait``, ``cancel``, ``download``."""

    _client: ImageStudio | None = PrivateAttr(default=None)

    def _bound(self) -> ImageStudio:
        if self._client is None:
            raise RuntimeError("this Job is not bound to a client")
        return self._client

    def refresh(self) -> Job:
        return self._bound().jobs.get(self.id)

    def wait(
        self,
        *,
        timeout: float = 1800.0,
        on_progress: JobCallback | None = None,
        poll_interval: float | None = None,
    ) -> Job:
        return self._bound().jobs.wait(
            self.id, timeout=timeout, on_progress=on_progress, poll_interval=poll_interval
        )

    def cancel(self) -> Job:
        return self._bound().jobs.cancel(self.id)

    def download(
        self, folder: str | Path, *, on_progress: TransferCallback | None = None, workers: int = 4
    ) -> builtins.list[Path]:
        """Fetch every output into ``folder`` in parallel; expired links are refreshed, sizes checked."""
        return self._bound().jobs.download(self, folder, on_progress=on_progress, workers=workers)


class BatchResult:
    """One entry of a batch: ``job`` when accepted (status 202), else ``error`` (the studio's problem)."""

    def __init__(self, status: int, job: Job | None, error: APIError | None) -> None:
        self.status, self.job, self.error = status, job, error

    def __repr__(self) -> str:
        return f"BatchResult(status={self.status}, job={self.job and self.job.id}, error={self.error})"


class _Links:
    """Current download links of one job's outputs; refreshed once per expiry, however many ask at once."""

    def __init__(self, client: ImageStudio, job: JobData) -> None:
        self._client, self._job_id = client, job.id
        self._outputs = {output.id: output for output in job.outputs}
        self._lock = Lock()

    def current(self, output_id: str) -> JobOutput:
        # One lookup in a dict ``refresh`` replaces whole: no lock needed to read it.
        return self._outputs[output_id]

    def refresh(self, stale: JobOutput) -> JobOutput:
        with self._lock:
            if self._outputs[stale.id].url == stale.url:
                self._outputs = core.fresh_outputs(self._client.jobs.get(self._job_id))
            return self._outputs[stale.id]


class Uploads:
    def __init__(self, client: ImageStudio) -> None:
        self._c = client

    def create(self, image: ImageInput, *, on_progress: TransferCallback | None = None) -> Upload:
        """Upload an image once (checked, stored, no credits); name its id in many jobs."""
        file = core.image_file(image, field_name="file")
        return Upload.model_validate(self._c.request(core.upload_call(file, on_progress)))

    def presign(self, *, content_type: str, size_bytes: int, filename: str | None = None) -> Upload:
        """A pending upload with a ``put_url`` to PUT the file to (see :meth:`put`); ``filename``
        (the file's name) names the outputs made from it."""
        body: dict[str, Any] = {"content_type": content_type, "bytes": size_bytes}
        if filename is not None:
            body["filename"] = filename
        return Upload.model_validate(self._c.request(Call("POST", "/uploads", json=body)))

    def put(self, upload: Upload, data: bytes) -> None:
        """Send the file to a presigned upload's ``put_url`` (the link is the credential)."""
        assert upload.put_url, "not a presigned upload"
        response = self._c.links.put(
            upload.put_url, content=data, headers={"content-type": upload.content_type}
        )
        core.parse(response)

    def get(self, upload_id: str) -> Upload:
        return Upload.model_validate(self._c.request(Call("GET", f"/uploads/{upload_id}")))

    def delete(self, upload_id: str) -> None:
        self._c.request(Call("DELETE", f"/uploads/{upload_id}"))

    def list(self, *, page_size: int = 100) -> Iterator[Upload]:
        """Every upload of the tenant not yet expired, newest first, fetching page after page as it goes."""
        for item in pages(self._c, "/uploads", {"limit": page_size}):
            yield Upload.model_validate(item)


class Jobs:
    def __init__(self, client: ImageStudio) -> None:
        self._c = client

    def get(self, job_id: str) -> Job:
        return self._c.job(self._c.request(Call("GET", f"/jobs/{job_id}")))

    def cancel(self, job_id: str) -> Job:
        return self._c.job(self._c.request(Call("POST", f"/jobs/{job_id}/cancel")))

    def list(
        self, *, studio: Studio | None = None, status: JobStatus | None = None, page_size: int = 100
    ) -> Iterator[Job]:
        """Every job of the tenant, newest first, fetching page after page as it goes."""
        params = {"studio": studio, "status": status, "limit": page_size}
        for item in pages(self._c, "/jobs", params):
            yield self._c.job(item)

    def batch(
        self, jobs: Sequence[BatchJob | dict[str, Any]], *, idempotency_key: str | None = None
    ) -> builtins.list[BatchResult]:
        """Submit up to 100 jobs in one request; each is answered on its own, in order."""
        body = {"jobs": [BatchJob.model_validate(j).model_dump(mode="json") for j in jobs]}
        answer = self._c.request(core.submission("/jobs/batch", body, idempotency_key))
        return [
            BatchResult(
                entry["status"],
                self._c.job(entry["job"]) if entry.get("job") else None,
                error_for(entry["status"], entry["problem"]) if entry.get("problem") else None,
            )
            for entry in answer["jobs"]
        ]

    def stream(
        self, job_id: str, *, last_event_id: int | None = None, max_reconnects: int = 10
    ) -> Generator[JobEvent, None]:
        """The job's events as they happen, ending after the terminal one.

        A dropped connection is resumed with ``Last-Event-ID``, so no event is lost or repeated;
        after ``max_reconnects`` failures in a row, :class:`APIConnectionError`.
        """
        cursor, failures = last_event_id, 0
        while True:
            headers = {"Last-Event-ID": str(cursor)} if cursor else {}
            decoder = core.SSEDecoder()
            try:
                with self._c.http.stream(
                    "GET",
                    f"/jobs/{job_id}/events",
                    headers=headers,
                    timeout=httpx.Timeout(self._c.config.timeout, read=60),
                ) as response:
                    if response.status_code == 204:
                        return
                    if response.status_code >= 400:
                        response.read()
                        core.parse(response)
                    for line in response.iter_lines():
                        event = decoder.feed(line)
                        if event is None:
                            continue
                        cursor, failures = event.id, 0
                        yield event
                        if event.terminal:
                            return
            except httpx.TransportError as exc:
                failures += 1
                if failures > max_reconnects:
                    raise APIConnectionError(
                        f"the event stream of job {job_id} kept dropping: {exc}"
                    ) from exc
                sleep(core.stream_reconnect_delay(failures))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 1800.0,
        on_progress: JobCallback | None = None,
        poll_interval: float | None = None,
    ) -> Job:
        """Block until the job ends, following its live events; polls if the stream fails.

        Returns the job whatever its end (check ``job.status``); :class:`JobTimeoutError` after
        ``timeout``. Polls come every ``poll_interval`` seconds (the client's, else 0.25 s doubling
        to 2 s).
        """
        interval = poll_interval if poll_interval is not None else self._c.config.poll_interval
        deadline = time.monotonic() + timeout
        progress = core.JobProgress(job_id, "queued", 0.0, "queued")
        try:
            with contextlib.closing(self.stream(job_id)) as events:
                for event in events:
                    progress = core.event_progress(event, progress)
                    if on_progress is not None:
                        on_progress(progress)
                    if event.terminal or time.monotonic() > deadline:
                        break
        except APIConnectionError:
            pass  # the stream is not to be had: polling below
        except APIError as exc:
            if exc.status < 500:
                raise
        attempt = 0
        while True:
            job = self.get(job_id)
            if on_progress is not None:
                on_progress(core.job_progress(job))
            if job.done:
                return job
            if time.monotonic() > deadline:
                raise JobTimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            sleep(core.poll_delay(attempt, interval))
            attempt += 1

    def download(
        self,
        job: JobData | str,
        folder: str | Path,
        *,
        on_progress: TransferCallback | None = None,
        workers: int = 4,
    ) -> builtins.list[Path]:
        """Fetch every output of a job into ``folder`` in parallel; returns the files, in output order.

        An expired link (or one the store refuses) is refreshed by getting the job again; each
        file's size is checked against the job's record, else :class:`DownloadError`.
        """
        data = self.get(job) if isinstance(job, str) else job
        plan = core.download_plan(data.outputs, Path(folder))
        links = _Links(self._c, data)
        total = sum(output.bytes for output, _ in plan)
        done = 0
        counting = threading.Lock()  # the synchronous client downloads in threads

        def advance(n: int) -> None:
            nonlocal done
            with counting:
                done += n
                if on_progress is not None:
                    on_progress(core.TransferProgress("download", done, total))

        def fetch(item: tuple[JobOutput, Path]) -> Path:
            output, target = item
            current = links.current(output.id)
            if core.link_expired(current):
                current = links.refresh(current)
            for attempt in range(2):
                part = target.with_name(target.name + ".part")
                with self._c.links.stream("GET", current.url) as response:
                    if response.status_code in core.EXPIRED_LINK_STATUSES and attempt == 0:
                        current = links.refresh(current)
                        continue
                    if response.status_code >= 400:
                        raise DownloadError(f"{output.name}: HTTP {response.status_code}")
                    size = 0
                    with part.open("wb") as fh:
                        for chunk in response.iter_bytes():
                            fh.write(chunk)
                            size += len(chunk)
                            advance(len(chunk))
                if size != current.bytes:
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"{output.name}: got {size} bytes, the job says {current.bytes}")
                part.replace(target)
                return target
            raise DownloadError(f"{output.name}: the link stayed refused after a refresh")

        return thread_map(fetch, plan, workers=workers)


class Social:
    def __init__(self, client: ImageStudio) -> None:
        self._c = client

    def optimize(
        self,
        image: ImageInput,
        *,
        platforms: Sequence[str] | None = None,
        formats: Sequence[str | CustomFormat] | None = None,
        crop_mode: str | None = None,
        focal_x: float | None = None,
        focal_y: float | None = None,
        crops: Mapping[str, CropBox] | None = None,
        output_format: str | None = None,
        quality: int | None = None,
        safe_zone_overlay: bool | None = None,
        zip: bool | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """One image cropped to every chosen platform format (``POST /social/optimize``); ``formats``
        are catalogue keys (``"instagram.story"``) or custom sizes (``{"name", "width", "height"}``);
        ``focal_x`` and ``focal_y`` (0-1, both or neither) place the crops instead of smart crop;
        ``crops`` sets a format's crop by hand (``{"instagram.story": {"x", "y", "width", "height"}}``)."""
        fields = core.fields_of(locals())
        return self._c.submit("/social/optimize", fields, idempotency_key, on_upload)

    def plan(
        self,
        image: ImageInput,
        *,
        platforms: Sequence[str] | None = None,
        formats: Sequence[str | CustomFormat] | None = None,
        crop_mode: str | None = None,
        focal_x: float | None = None,
        focal_y: float | None = None,
        crops: Mapping[str, CropBox] | None = None,
        timeout: float = 60.0,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> SocialPlan:
        """Each format's crop box, zoom, subject boxes and safe-zone placement, without rendering
        (``POST /social/plan``): the same numbers :meth:`optimize` with these fields uses.

        A short job on the social worker, answered in the same request when it ends within 10 s,
        else waited for up to ``timeout``; :class:`JobFailedError` when it fails.
        """
        fields = core.fields_of(locals())
        job = self._c.submit("/social/plan", fields, None, on_upload, wait=core.PLAN_WAIT)
        if not job.done:
            job = job.wait(timeout=timeout)
        return core.social_plan_of(job)

    def platforms(self) -> builtins.list[dict[str, Any]]:
        """Every platform with its formats, sizes, limits and safe zones."""
        answer = self._c.request(Call("GET", "/social/platforms"))
        return list(answer["platforms"])


class CreditsAPI:
    def __init__(self, client: ImageStudio) -> None:
        self._c = client

    def get(self) -> Credits:
        """Balance, credits held by running jobs, and recent ledger entries."""
        return Credits.model_validate(self._c.request(Call("GET", "/credits")))

    def estimate(self, studio: Studio, params: dict[str, Any]) -> dict[str, Any]:
        """What a studio request would cost (the same pricing the reserve uses)."""
        return dict(
            self._c.request(Call("POST", "/estimate-cost", json={"studio": studio, "params": params}))
        )


class ImageStudio:
    """The Image Studio API: ``ImageStudio("http://127.0.0.1:8000", "isk_...")``.

    Without arguments, ``IMAGESTUDIO_URL`` and ``IMAGESTUDIO_API_KEY`` are read. 429, 502-504 and
    connection errors are retried ``max_retries`` times honouring ``Retry-After``; job submissions
    carry an ``Idempotency-Key`` so a retried one never makes a second job. ``poll_interval``
    (seconds) fixes the delay between status polls when a job's event stream is not to be had.
    ``transport`` is an httpx transport for every request (tests, proxies).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        poll_interval: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = core.Config.resolve(
            base_url, api_key, timeout=timeout, max_retries=max_retries, poll_interval=poll_interval
        )
        self.http = httpx.Client(
            base_url=self.config.base_url, headers=self.config.headers(), timeout=timeout, transport=transport
        )
        # Presigned links carry their own credential: the API key must not go to the bucket.
        self.links = httpx.Client(timeout=httpx.Timeout(timeout, read=120), transport=transport)
        self.uploads = Uploads(self)
        self.jobs = Jobs(self)
        self.social = Social(self)
        self.assets = Assets(self)
        self.credits = CreditsAPI(self)
        self.webhooks = WebhooksAPI(self)
        self.templates = Templates(self)
        self.personas = Personas(self)

    def __enter__(self) -> ImageStudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        self.links.close()

    def request(self, call: Call) -> Any:
        """Send one call, retrying what may be retried; its JSON answer or a typed error."""
        attempt = 0
        while True:
            for _, reader, _ in (call.files or {}).values():
                reader.seek(0)
            try:
                response = self.http.send(call.build(self.http))
            except httpx.TransportError as exc:
                delay = core.retry_delay(attempt, None, max_retries=self.config.max_retries)
                if delay is None:
                    raise APIConnectionError(f"{call.method} {call.path}: {exc}") from exc
            else:
                delay = core.retry_delay(attempt, response, max_retries=self.config.max_retries)
                if delay is None:
                    return core.parse(response)
            sleep(delay)
            attempt += 1

    def job(self, body: Any) -> Job:
        job = Job.model_validate(body)
        job._client = self
        return job

    def submit(
        self,
        path: str,
        fields: dict[str, Any],
        idempotency_key: str | None,
        on_upload: TransferCallback | None,
        *,
        wait: int | None = None,
    ) -> Job:
        """Upload the images not yet uploaded (an upload id or a URL is sent as it is), then submit
        the job naming them (JSON); with ``wait``
        (seconds) the answer is the job once it ends, if it ends by then (``Prefer: wait``)."""
        body = dict(fields)
        for name, image in {k: v for k, v in fields.items() if k in core.IMAGE_FIELDS}.items():
            if image is None or core.names_image(image):
                body[name] = image
            else:
                upload = self.uploads.create(image, on_progress=on_upload)
                body[name] = upload.id
        return self.job(self.request(core.submission(path, body, idempotency_key, wait=wait)))

    def create(
        self,
        prompt: str,
        *,
        count: int | None = None,
        provider: str | None = None,
        model: str | None = None,
        aspect_ratio: str | None = None,
        width: int | None = None,
        height: int | None = None,
        template_id: str | None = None,
        persona_id: str | None = None,
        output_format: str | None = None,
        init_image: ImageInput | None = None,
        strength: float | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """Text to image: 1-10 images from a prompt (``POST /create``).

        With ``init_image`` (uploaded first unless it is an upload id or a URL) it is image to image:
        ``strength`` 0-1 says how far the result may move from it (0.0 is honoured).
        """
        fields = core.fields_of(locals())
        return self.submit("/create", fields, idempotency_key, on_upload)

    def edit(
        self,
        image: ImageInput,
        *,
        operation: str,
        mask: ImageInput | None = None,
        prompt: str | None = None,
        output_format: str | None = None,
        path: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """An edit (``remove_background``, ``inpaint``, ``outpaint``, ... see ``GET /edit/operations``)."""
        fields = core.fields_of(locals())
        return self.submit("/edit", fields, idempotency_key, on_upload)

    def upscale(
        self,
        image: ImageInput,
        *,
        mode: str = "fast",
        prompt: str | None = None,
        preset: str | None = None,
        output_format: str | None = None,
        path: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """An upscale: ``fast`` (4x), ``conservative`` or ``creative`` (``POST /upscale``)."""
        fields = core.fields_of(locals())
        return self.submit("/upscale", fields, idempotency_key, on_upload)

    def control(
        self,
        image: ImageInput,
        *,
        operation: str,
        prompt: str | None = None,
        style_image: ImageInput | None = None,
        control_strength: float | None = None,
        fidelity: float | None = None,
        style_strength: float | None = None,
        composition_fidelity: float | None = None,
        change_strength: float | None = None,
        output_format: str | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """Generation under an image's control (``POST /control``): ``sketch`` and ``structure``
        (``control_strength``), ``style`` (``fidelity``), ``style_transfer`` (``style_image``,
        ``style_strength``, ``composition_fidelity``, ``change_strength``). A strength left None is
        not sent (the service's default); ``0.0`` is sent and honoured. ``sketch`` and ``structure``
        jobs also output the ``control_map`` the provider was given."""
        fields = core.fields_of(locals())
        return self.submit("/control", fields, idempotency_key, on_upload)

    def compress(
        self,
        image: ImageInput,
        *,
        format: str | None = None,
        quality: int | None = None,
        target_kb: int | None = None,
        target_ssim: float | None = None,
        preset: str | None = None,
        metadata: str | None = None,
        progressive: bool | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """Compress one image (``POST /compress``, free): a ``quality``, a ``target_kb``, a
        ``target_ssim`` (the smallest file that stays at least that close to the source) or a ``preset``.

        The output's metadata gives ``bytes_before``, ``bytes_after``, ``quality`` and ``ssim``.
        """
        fields = core.fields_of(locals())
        return self.submit("/compress", fields, idempotency_key, on_upload)

    def convert(
        self,
        image: ImageInput,
        *,
        format: str,
        quality: int | None = None,
        transparency: str | None = None,
        background: str | None = None,
        colour_space: str | None = None,
        metadata: str | None = None,
        progressive: bool | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: TransferCallback | None = None,
        **options: Any,
    ) -> Job:
        """Convert one image to ``format`` (``POST /convert``, free; a ``compress`` job): transparency
        ``preserve`` or ``flatten`` on ``background``, ``colour_space`` ``srgb`` or ``keep``."""
        fields = core.fields_of(locals())
        return self.submit("/convert", fields, idempotency_key, on_upload)

    def catalogue(self, studio: str) -> dict[str, Any]:
        """What a studio offers, as the console's forms read it: ``edit``'s and ``control``'s
        operations, ``upscale``'s modes, ``compress``'s formats and presets (fields, defaults,
        bounds, credits, and whether a provider is available)."""
        return dict(self.request(Call("GET", core.catalogue_path(studio))))

    def run(
        self,
        studio: BatchStudio,
        *args: Any,
        timeout: float = 1800.0,
        on_progress: JobCallback | None = None,
        **fields: Any,
    ) -> builtins.list[JobOutput]:
        """Submit to ``studio``, wait for the job and answer its outputs (with fresh download links).

        ``args`` and ``fields`` are the studio method's (``run("create", "a kite", count=2)``,
        ``run("social", "photo.jpg", formats=[...])``); :class:`JobFailedError` when the job fails
        or is canceled, :class:`JobTimeoutError` after ``timeout``.
        """
        methods: dict[str, Callable[..., Any]] = {
            "create": self.create,
            "edit": self.edit,
            "upscale": self.upscale,
            "social": self.social.optimize,
            "control": self.control,
            "compress": self.compress,
            "convert": self.convert,
        }
        job: Job = methods[studio](*args, **fields)
        done = job.wait(timeout=timeout, on_progress=on_progress)
        if done.status != "succeeded":
            raise JobFailedError(done.id, done.status, done.error)
        return done.outputs

    def providers(self, *, kind: str | None = None) -> dict[str, Any]:
        """The providers behind the studios: their models, which are available, their credits."""
        return dict(self.request(Call("GET", "/providers", params={"kind": kind})))
