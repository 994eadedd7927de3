"""Serving an edit or upscale job's planned routes in order: the provider (retries, breaker, fallback), then local.

Provider calls run on the one provider-call engine (:class:`imagestudio.providers.execution.ProviderExecutor`)
that create uses too: its configured-or-simulated endpoints and pooled clients, the database-backed
circuit breaker, retries with backoff and Retry-After honoured up to ``PROVIDER_MAX_WAIT_SECONDS``.
Asynchronous provider work is handed to :mod:`imagestudio.studios.common.polling`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import dramatiq

from imagestudio.config import get_settings
from imagestudio.errors import ProviderBadRequest, ProviderContentFiltered, ProviderError, ValidationFailed
from imagestudio.jobs.runner import JobContext
from imagestudio.messaging import Studio
from imagestudio.providers.execution import CallInfo, ProviderExecutor, long_retry_after, provider_executor
from imagestudio.providers.registry import ProviderClient
from imagestudio.providers.schemas import GeneratedImage, PendingResult
from imagestudio.studios.common.polling import defer, resume
from imagestudio.studios.common.produced import Deliver, Produced
from imagestudio.studios.common.routes import Route

T = TypeVar("T")


def call_provider(
    route: Route, call: Callable[[ProviderClient], T], *, checkpoint: Callable[[str], None]
) -> tuple[T, CallInfo]:
    """One provider operation through the engine (retries, Retry-After, the shared circuit breaker)."""
    return provider_executor().call(
        route.provider, call, what=f"{route.provider} {route.model}", checkpoint=checkpoint, model=route.model
    )


def serve(
    ctx: JobContext,
    routes: Sequence[Route],
    *,
    queue: Studio,
    inputs: Mapping[str, bytes],
    local: Callable[[Route], bytes],
    provider: Callable[[ProviderClient, Route, Mapping[str, bytes]], GeneratedImage | PendingResult],
    deliver: Deliver,
) -> None:
    """Serve the job on the first route that works; raises ``JobDeferred`` once async work is submitted.

    A provider that fails transiently (retries spent, circuit open, a long Retry-After) hands
    over to the next route; a refusal (bad request, content filter) fails the job at once. With
    no route left, a long Retry-After re-schedules the delivery instead of sleeping in it.
    ``inputs`` (the uploads, by field) are decoded once before the first provider call: the
    gateway read only their headers, and a truncated or corrupt file must fail the job with
    ``InvalidImage`` (permanent) rather than reach a provider; ``provider`` is called with the
    inputs as a provider reads them (``imaging.provider_ready``). A local route decodes them itself.
    """
    if isinstance(ctx.params.get("pending"), dict):
        resume(ctx, queue)  # a redelivery after the async work was submitted: never submit twice
    fallback_from: list[dict[str, Any]] = []
    ready: Mapping[str, bytes] | None = None

    def checkpoint(message: str) -> None:
        ctx.progress(0.1, message)

    for index, route in enumerate(routes):
        if route.local:
            checkpoint(f"processing locally ({route.model})")
            started = time.perf_counter()
            data = local(route)
            deliver(
                ctx,
                Produced.local_output(
                    data, route, seconds=time.perf_counter() - started, fallback_from=fallback_from
                ),
            )
            return

        if ready is None:
            ready = verify_inputs(inputs)  # outside the retry loop: a damaged file is not a transient error

        def call(
            client: ProviderClient, route: Route = route, ready: Mapping[str, bytes] = ready
        ) -> GeneratedImage | PendingResult:
            return provider(client, route, ready)

        try:
            result, info = call_provider(route, call, checkpoint=checkpoint)
        except (ProviderBadRequest, ProviderContentFiltered):
            raise
        except ProviderError as error:
            if index < len(routes) - 1:
                fallback_from.append(ProviderExecutor.gave_up(ctx.studio, route.provider, route.model, error))
                continue
            _reschedule_or_raise(ctx, error)
        if isinstance(result, PendingResult):
            defer(ctx, queue, route, result, info, fallback_from)
        deliver(
            ctx,
            Produced.from_image(
                result,
                route,
                attempts=info.attempts,
                simulated=info.simulated,
                seconds=info.seconds,
                fallback_from=fallback_from,
            ),
        )
        return
    raise ValidationFailed("path", "the job has no route to run")  # prepare() never stores such a job


def verify_inputs(inputs: Mapping[str, bytes]) -> dict[str, bytes]:
    """Decode each upload once; ``InvalidImage`` naming its field when one is truncated or corrupt.

    Returns the uploads as a provider is sent them: upright JPEG, PNG or WebP (see ``provider_ready``).
    """
    from imagestudio.imaging import provider_ready

    max_pixels = get_settings().max_image_pixels
    return {
        field_name: provider_ready(data, max_pixels=max_pixels, field=field_name)
        for field_name, data in inputs.items()
    }


def _reschedule_or_raise(ctx: JobContext, error: ProviderError) -> NoReturn:
    settings = get_settings()
    retry_after = long_retry_after(error)
    if retry_after is not None and ctx.attempt < ctx.max_attempts:
        # Too long to hold a worker thread: hand the message back to the broker's delay queue.
        delay = min(retry_after, settings.job_max_backoff_seconds)
        raise dramatiq.Retry(f"{error.detail}; retrying in {delay:g} s", delay=int(delay * 1000)) from error
    raise error
