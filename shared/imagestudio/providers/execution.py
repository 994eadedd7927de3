"""The one provider-call engine: retries with backoff honouring Retry-After, the shared circuit
breaker, metrics, and fallback across candidates. Create, edit and upscale all call through it.

::

    ProviderExecutor.call(provider, fn)   one operation on the provider's pooled client: attempts with
                                          backoff (a provider's Retry-After replaces it), the breaker,
                                          request/latency/retry metrics; raises the last ProviderError
    ProviderExecutor.gave_up(...)         record handing over to the next route or candidate
    ProviderExecutor.run_batch(spec)      create's batch: split by max images per call, ``call`` each
                                          chunk, then (auto) the next candidate for what is left
    long_retry_after(error)               a Retry-After too long to wait for in a worker thread

A refusal of the prompt (``ProviderBadRequest``, ``ProviderContentFiltered``) is never retried nor
handed over; any other ``ProviderError`` out of ``call`` means this provider gave up (attempts
spent, circuit open, Retry-After over ``PROVIDER_MAX_WAIT_SECONDS``, a garbled answer, or the
model gone: ``ProviderModelGone``, a 404 on its call or a 410, also marked in provider health).

Asynchronous generation (WaveSpeed) is billed per accepted submission, so a submission is never
re-posted once the vendor may have accepted it: the submit is one ``call`` (retried only when the
vendor answered that it did not take it: a 429 or 5xx, or a connection never made), its prediction
is handed to ``on_submitted`` at once (create stores it on the job), and the polls are a second
``call`` whose retries only re-poll that prediction. Polling that gives up leaves the prediction
*in flight* (``BatchReport.in_flight``): it is not handed to the next candidate, and the next
delivery of the job resumes it from ``BatchSpec.submitted``. Only a prediction that ended failed
at the vendor (``ProviderWorkFailed``) is given up and its variation handed over.

A batch's records (``BatchSpec``, ``CallReport``, ``BatchReport``) live in :mod:`.batch`; ``call``'s
attempt loop and ``run_batch``'s hand-over stay together here: they share the breaker, the retry
budget and the in-flight bookkeeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from imagestudio.config import get_settings
from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderModelGone,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderWorkFailed,
)
from imagestudio.providers.batch import BatchReport, BatchSpec, CallReport, OnImages, OnSubmitted
from imagestudio.providers.directory import ClientPool, ProviderDirectory, provider_directory
from imagestudio.providers.health import (
    DatabaseCircuitStore,
    breaker_for,
    circuit_key,
    report_model_gone,
    report_model_served,
    shared_store,
)
from imagestudio.providers.protocols import GenerationSubmitter
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.resilience import CircuitOpen, RetryPolicy
from imagestudio.providers.schemas import (
    GeneratedImage,
    GenerationRequest,
    PendingResult,
)
from imagestudio.providers.selection import Candidate
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import (
    PROVIDER_CIRCUIT_OPEN,
    PROVIDER_FALLBACKS,
    PROVIDER_LATENCY,
    PROVIDER_REQUESTS,
    PROVIDER_RETRIES,
)

__all__ = [
    "CallInfo",
    "ProviderExecutor",
    "long_retry_after",
    "provider_executor",
    "reset_provider_executor",
    "status_label",
    "submission_refused",
]

log = get_logger(__name__)

T = TypeVar("T")

Checkpoint = Callable[[str], None]


def status_label(error: ProviderError) -> str:
    """The ``status`` label of ``imagestudio_provider_requests_total`` for a failed call."""
    for kind, label in (
        (CircuitOpen, "circuit_open"),
        (ProviderRateLimited, "429"),
        (ProviderTimeout, "timeout"),
        (ProviderUnavailable, "unavailable"),
        (ProviderContentFiltered, "content_filtered"),
        (ProviderBadRequest, "400"),
        (ProviderWorkFailed, "work_failed"),
        (ProviderModelGone, "gone"),
    ):
        if isinstance(error, kind):
            return label
    return "error"


def long_retry_after(error: ProviderError) -> float | None:
    """The error's Retry-After when it is longer than a worker thread may wait (then the message is re-scheduled)."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > get_settings().provider_max_wait_seconds:
        return float(retry_after)
    return None


def submission_refused(error: ProviderError) -> bool:
    """Whether a failed submit certainly did not start paid work, so posting it again cannot bill twice.

    True when the vendor answered with a 429 or 5xx, or the connection was never made; False after
    a timeout or a connection lost while waiting for the answer (the vendor may have accepted it).
    """
    cause = error.__cause__
    if cause is None:
        return True  # an HTTP answer (429, 5xx): the vendor refused the submission
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout)


@dataclass(frozen=True)
class CallInfo:
    """How one provider operation went."""

    attempts: int
    simulated: bool
    #: From the first attempt to the answer, backoff included.
    seconds: float
    #: The answering attempt alone (what ``imagestudio_provider_latency_seconds`` observes).
    attempt_seconds: float


class _InFlight(Exception):
    """Polling gave up on a prediction the vendor accepted and may still be running (and billing)."""

    def __init__(self, pending: PendingResult, error: ProviderError) -> None:
        super().__init__(error.detail)
        self.pending = pending
        self.error = error


def _ignore_submitted(variation: int, pending: PendingResult | None) -> None:
    """The default ``on_submitted``: nothing outlives the call."""


class ProviderExecutor:
    """The engine: one per process (clients are pooled inside), shared by every studio's provider calls."""

    def __init__(
        self,
        *,
        directory: ProviderDirectory | None = None,
        store: DatabaseCircuitStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.directory = directory or provider_directory
        self.store = store or shared_store
        self._sleep = sleep
        self._pool = ClientPool()
        self._marked: dict[str, bool] = {}

    def close(self) -> None:
        self._pool.close()

    def client_for(self, provider: str) -> tuple[ProviderClient, Callable[[], bool]]:
        """The pooled client of ``provider`` (for a poll, outside the retry loop), and a check to run
        after a call: whether a simulator answered (also recorded for ``GET /providers``)."""
        settings = get_settings()
        endpoint = self.directory.endpoint(provider, settings)
        if endpoint is None:
            raise ProviderUnavailable(f"{provider} is not configured in this worker", provider=provider)
        client, transport = self._pool.get(endpoint, settings.provider_timeout_seconds)

        def simulated() -> bool:
            seen = endpoint.simulated or transport.simulator_seen
            self._mark_simulated(provider, seen)
            return seen

        return client, simulated

    # -- one operation with retries --

    def call(
        self,
        provider: str,
        fn: Callable[[ProviderClient], T],
        *,
        what: str,
        checkpoint: Checkpoint,
        retry_if: Callable[[ProviderError], bool] | None = None,
        model: str | None = None,
    ) -> tuple[T, CallInfo]:
        """Run ``fn`` on ``provider``'s pooled client through the shared breaker, retrying transient errors.

        The wait between attempts is the policy's backoff, or the provider's Retry-After when it
        gives one; a Retry-After longer than ``PROVIDER_MAX_WAIT_SECONDS`` ends the call at once
        (see :func:`long_retry_after`). Refusals, an open circuit and non-retryable errors are raised
        unchanged at the first attempt; otherwise the last error once attempts are spent.
        ``retry_if`` narrows which retryable errors are retried (a submission: see
        :func:`submission_refused`). ``model``, given for a call of that model, lowers its
        model-gone gauge once the call succeeds (:func:`~imagestudio.providers.health.report_model_served`).
        """
        settings = get_settings()
        client, simulated = self.client_for(provider)
        breaker = breaker_for(provider, store=self.store, settings=settings)
        policy = RetryPolicy(
            max_attempts=settings.provider_max_attempts,
            base_delay=settings.provider_retry_base_seconds,
            max_delay=settings.provider_max_wait_seconds,
        )
        attempt = 1
        started = time.perf_counter()
        while True:
            checkpoint(f"calling {what} (attempt {attempt})")
            attempt_started = time.perf_counter()
            try:
                result = breaker.call(lambda: fn(client))
            except CircuitOpen:
                PROVIDER_REQUESTS.labels(provider, "circuit_open").inc()
                PROVIDER_CIRCUIT_OPEN.labels(provider).set(1)
                raise
            except ProviderError as error:
                PROVIDER_REQUESTS.labels(provider, status_label(error)).inc()
                lockout = getattr(error, "lockout_seconds", None)
                if lockout:
                    # The vendor locked the key out: no worker calls it until the lockout ends.
                    breaker.hold_open(lockout)
                    PROVIDER_CIRCUIT_OPEN.labels(provider).set(1)
                    log.warning("provider.locked_out", provider=provider, seconds=lockout)
                if (
                    not error.retryable  # a refusal, or a garbled answer: this provider is not working
                    or (retry_if is not None and not retry_if(error))
                    or long_retry_after(error) is not None
                    or attempt >= policy.max_attempts
                ):
                    raise
                delay = policy.delay_for(attempt, error)
                PROVIDER_RETRIES.labels(provider).inc()
                log.info(
                    "provider.retrying",
                    provider=provider,
                    what=what,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                    error=error.detail,
                )
                checkpoint(f"{what}: {error.title.lower()}; retrying in {delay:.1f} s")
                self._sleep(delay)
                attempt += 1
                continue
            finished = time.perf_counter()
            PROVIDER_REQUESTS.labels(provider, "200").inc()
            PROVIDER_LATENCY.labels(provider).observe(finished - attempt_started)
            PROVIDER_CIRCUIT_OPEN.labels(provider).set(0)
            if model is not None:
                report_model_served(provider, model, store=self.store)
            info = CallInfo(
                attempts=attempt,
                simulated=simulated(),
                seconds=finished - started,
                attempt_seconds=finished - attempt_started,
            )
            return result, info

    @staticmethod
    def gave_up(studio: str, provider: str, model: str, error: ProviderError) -> dict[str, Any]:
        """Record handing over from ``provider`` to the next route or candidate; the ``fallback_from`` step.

        A model the vendor says is gone is marked unavailable in provider health, so plans skip it.
        """
        if isinstance(error, ProviderModelGone):
            report_model_gone(provider, model)
            log.warning("provider.model_gone", provider=provider, model=model, reason=error.detail)
        PROVIDER_FALLBACKS.labels(studio, provider).inc()
        log.warning("provider.gave_up", provider=provider, model=model, reason=error.detail)
        return {"provider": provider, "model": model, "reason": error.detail}

    # -- create's batches --

    def run_batch(
        self,
        spec: BatchSpec,
        *,
        variations: Sequence[int],
        on_images: OnImages,
        checkpoint: Checkpoint,
        on_submitted: OnSubmitted = _ignore_submitted,
    ) -> BatchReport:
        """Make an image for each variation index; calls follow each model's max images per call.

        The first candidate serves until it fails for good; then (auto mode has several) the next
        one takes over the remaining variations. A permanent refusal stops the batch at once.
        Predictions in ``spec.submitted`` are polled first and never posted again; an asynchronous
        candidate submits one variation at a time and tells ``on_submitted`` before polling it.
        """
        report = BatchReport()
        remaining = sorted(variations)
        active = 0
        fallback_from: list[dict[str, Any]] = []
        for variation in [v for v in remaining if v in spec.submitted]:
            pending = spec.submitted[variation]
            candidate = next(
                (c for c in spec.candidates if (c.provider, c.model) == (pending.provider, pending.model)),
                None,
            )
            if candidate is None:
                continue  # not a prediction of this plan: the variation is made afresh
            try:
                images, call = self._resume(candidate, spec, variation, pending, on_submitted, checkpoint)
            except (ProviderBadRequest, ProviderContentFiltered) as refusal:
                report.permanent = refusal
                report.failed.update(dict.fromkeys(remaining, self._problem(refusal, "")))
                return report
            except _InFlight as stuck:
                self._still_in_flight(report, variation, stuck)
                remaining.remove(variation)
                continue
            except ProviderWorkFailed as error:
                report.last_error = error  # the variation is made afresh below
                continue
            self._deliver(report, candidate, [variation], images, call, fallback_from, on_images)
            remaining.remove(variation)
        while remaining:
            if active >= len(spec.candidates):
                problem = self._problem(report.last_error, "no candidate provider left")
                report.failed.update(dict.fromkeys(remaining, problem))
                break
            candidate = spec.candidates[active]
            chunk = remaining[: max(1, candidate.max_images_per_call)]
            try:
                if isinstance(self.client_for(candidate.provider)[0], GenerationSubmitter):
                    # One paid prediction per variation, each stored before it is polled.
                    chunk = remaining[:1]
                    images, call = self._submit_and_poll(candidate, spec, chunk[0], on_submitted, checkpoint)
                else:
                    images, call = self._call(candidate, spec, chunk, checkpoint)
            except (ProviderBadRequest, ProviderContentFiltered) as refusal:
                report.permanent = refusal
                problem = self._problem(refusal, "")
                report.failed.update(dict.fromkeys(remaining, problem))
                break
            except _InFlight as stuck:
                # Its prediction runs on, billed: it stays with it; the rest go to the next candidate.
                self._still_in_flight(report, chunk[0], stuck)
                remaining = remaining[1:]
                step = self.gave_up("create", candidate.provider, candidate.model, stuck.error)
                report.fallbacks.append({**step, "variations": [v + 1 for v in remaining]})
                fallback_from = [*fallback_from, step]
                active += 1
                continue
            except ProviderError as error:
                report.last_error = error
                retry_after = (
                    long_retry_after(error)
                    if error.retryable and not isinstance(error, CircuitOpen)
                    else None
                )
                if retry_after is not None:
                    report.retry_after = max(report.retry_after or 0.0, retry_after)
                step = self.gave_up("create", candidate.provider, candidate.model, error)
                report.fallbacks.append({**step, "variations": [v + 1 for v in chunk]})
                fallback_from = [*fallback_from, step]
                active += 1
                continue
            self._deliver(report, candidate, chunk, images, call, fallback_from, on_images)
            remaining = remaining[len(chunk) :]
        return report

    @staticmethod
    def _deliver(
        report: BatchReport,
        candidate: Candidate,
        chunk: Sequence[int],
        images: list[GeneratedImage],
        call: CallReport,
        fallback_from: list[dict[str, Any]],
        on_images: OnImages,
    ) -> None:
        call.fallback_from = fallback_from
        served = list(chunk[: len(images)])
        if served:
            on_images(served, images[: len(served)], call)
        for missing in chunk[len(images) :]:
            report.failed[missing] = {
                "title": "No image",
                "detail": f"{candidate.provider} returned {len(images)} of {len(chunk)} images (the rest were filtered)",
                "provider": candidate.provider,
            }

    def _still_in_flight(self, report: BatchReport, variation: int, stuck: _InFlight) -> None:
        report.in_flight[variation] = stuck.pending
        report.last_error = stuck.error
        retry_after = long_retry_after(stuck.error)
        if retry_after is not None:
            report.retry_after = max(report.retry_after or 0.0, retry_after)
        report.failed[variation] = {
            **self._problem(stuck.error, ""),
            "remote_id": stuck.pending.remote_id,
        }

    def _call(
        self, candidate: Candidate, spec: BatchSpec, chunk: Sequence[int], checkpoint: Checkpoint
    ) -> tuple[list[GeneratedImage], CallReport]:
        request, prompt = self._request(candidate, spec, chunk)
        images, info = self.call(
            candidate.provider,
            lambda client: client.generate(request),
            what=f"{candidate.provider} {candidate.model} for image {chunk[0] + 1}",
            checkpoint=checkpoint,
            model=candidate.model,
        )
        return images, CallReport(candidate, info.attempts, info.simulated, info.attempt_seconds, prompt, [])

    def _submit_and_poll(
        self,
        candidate: Candidate,
        spec: BatchSpec,
        variation: int,
        on_submitted: OnSubmitted,
        checkpoint: Checkpoint,
    ) -> tuple[list[GeneratedImage], CallReport]:
        """Submit one prediction (re-posted only when the vendor refused it), store it, then poll it."""
        request, prompt = self._request(candidate, spec, [variation])

        def submit(client: ProviderClient) -> PendingResult:
            if not isinstance(client, GenerationSubmitter):
                raise ProviderError(f"{client.name} cannot submit generations", provider=client.name)
            [pending] = client.submit_generate(request)
            return pending

        pending, submitted = self.call(
            candidate.provider,
            submit,
            what=f"{candidate.provider} {candidate.model} for image {variation + 1}",
            checkpoint=checkpoint,
            retry_if=submission_refused,
            model=candidate.model,
        )
        on_submitted(variation, pending)
        images, polled = self._poll(candidate, variation, pending, on_submitted, checkpoint)
        return images, CallReport(
            candidate,
            submitted.attempts,
            polled.simulated,
            submitted.attempt_seconds + polled.seconds,
            prompt,
            [],
        )

    def _resume(
        self,
        candidate: Candidate,
        spec: BatchSpec,
        variation: int,
        pending: PendingResult,
        on_submitted: OnSubmitted,
        checkpoint: Checkpoint,
    ) -> tuple[list[GeneratedImage], CallReport]:
        """Poll a prediction an earlier delivery submitted to its end."""
        _, prompt = self._request(candidate, spec, [variation])
        log.info("provider.prediction_resumed", provider=candidate.provider, remote_id=pending.remote_id)
        images, polled = self._poll(candidate, variation, pending, on_submitted, checkpoint)
        return images, CallReport(candidate, 1, polled.simulated, polled.seconds, prompt, [])

    def _poll(
        self,
        candidate: Candidate,
        variation: int,
        pending: PendingResult,
        on_submitted: OnSubmitted,
        checkpoint: Checkpoint,
    ) -> tuple[list[GeneratedImage], CallInfo]:
        """Poll ``pending`` to its end; every retry polls the same prediction again, none re-submits.

        Raises ``_InFlight`` when polling gives up on a prediction that may still be running.
        """
        try:
            images, info = self.call(
                candidate.provider,
                lambda client: self._wait(client, pending, checkpoint),
                what=f"{candidate.provider} prediction {pending.remote_id}",
                checkpoint=checkpoint,
            )
        except (ProviderBadRequest, ProviderContentFiltered, ProviderWorkFailed):
            on_submitted(variation, None)  # finished at the vendor: nothing left to resume
            raise
        except ProviderError as error:
            raise _InFlight(pending, error) from error
        on_submitted(variation, None)
        return images, info

    def _wait(
        self, client: ProviderClient, pending: PendingResult, checkpoint: Checkpoint
    ) -> list[GeneratedImage]:
        """Poll at the configured interval until the prediction is done (each poll also checks for a cancel)."""
        if not isinstance(client, GenerationSubmitter):
            raise ProviderError(f"{client.name} cannot poll predictions", provider=client.name)
        settings = get_settings()
        deadline = time.monotonic() + settings.provider_poll_deadline_seconds
        polls = 0
        while True:
            result = client.poll(pending)
            polls += 1
            if result is not None:
                return result
            if time.monotonic() + settings.provider_poll_interval_seconds > deadline:
                raise ProviderTimeout(
                    f"{client.name} prediction {pending.remote_id} not ready after "
                    f"{settings.provider_poll_deadline_seconds:g} s ({polls} polls)",
                    provider=client.name,
                )
            checkpoint(f"waiting for {client.name} prediction {pending.remote_id} (poll {polls})")
            self._sleep(settings.provider_poll_interval_seconds)

    def _request(
        self, candidate: Candidate, spec: BatchSpec, chunk: Sequence[int]
    ) -> tuple[GenerationRequest, str]:
        # Models without presets get the style in words, so the preset is never silently dropped.
        prompt = spec.prompt if candidate.native_style else spec.styled_prompt
        size: dict[str, Any]
        if candidate.keep_shape:
            size = {}  # image-to-image in the init image's shape: the provider is asked for none
        elif candidate.provider_aspect_ratio is not None:
            size = {"aspect_ratio": candidate.provider_aspect_ratio}
        else:
            # Size-based models: ask for the exact shape at about one megapixel; the client clamps it.
            width = math.sqrt(1024 * 1024 * spec.ratio)
            size = {
                "width": max(64, min(8192, round(width))),
                "height": max(64, min(8192, round(width / spec.ratio))),
            }
        request = GenerationRequest(
            prompt=prompt,
            negative_prompt=spec.negative_prompt,
            model=candidate.model,
            seed=spec.seed + chunk[0],
            style_preset=spec.style_preset if candidate.native_style else None,
            count=len(chunk),
            quality=spec.quality,
            output_format=spec.output_format,
            guidance_scale=candidate.guidance_scale,
            steps=candidate.steps,
            init_image=spec.init_image,
            strength=spec.strength,
            **size,
        )
        return request, prompt

    def _mark_simulated(self, provider: str, simulated: bool) -> None:
        if self._marked.get(provider) is simulated:
            return
        self.store.mark_simulated(circuit_key(provider), simulated)
        self._marked[provider] = simulated

    @staticmethod
    def _problem(error: ProviderError | None, fallback: str) -> dict[str, Any]:
        if error is None:
            return {"title": "No image", "detail": fallback}
        return {"type": error.type, "title": error.title, "detail": error.detail, "provider": error.provider}


_executor: ProviderExecutor | None = None
_executor_lock = threading.Lock()


def provider_executor() -> ProviderExecutor:
    """The process's executor (its pooled clients outlive jobs)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ProviderExecutor()
        return _executor


def reset_provider_executor() -> None:
    """Close pooled clients and forget the executor (tests that change provider settings)."""
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.close()
        _executor = None
