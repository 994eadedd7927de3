"""What the studios need from a provider, one protocol per capability, and the bounded poll loop.

::

    ImageProvider        generate(request) -> images            (every client)
    GenerationSubmitter  submit_generate(request) -> pending     (asynchronous generation: WaveSpeed)
    Editor               edit / submit_edit (EditRequest)        (Stability's edit endpoints)
    PromptEditor         submit_edit(GeneralEditRequest)         (WaveSpeed's edit models)
    Upscaler             upscale / submit_upscale                (Stability's upscale endpoints)
    Controller           control(ControlRequest)                 (Stability's control endpoints)
    PollingProvider      poll(pending), wait(pending)            (whoever answers with pending work)

The engine (:mod:`imagestudio.providers.execution`) hands a caller the pooled client of the route's
provider; the caller narrows it with ``as_editor``/``as_prompt_editor``/``as_upscaler``/``as_controller``/
``as_poller``, which refuse a client that lacks the capability instead of failing on a missing attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from imagestudio.errors import ProviderBadRequest, ProviderTimeout
from imagestudio.providers.schemas import (
    ControlRequest,
    EditRequest,
    GeneralEditRequest,
    GeneratedImage,
    GenerationRequest,
    PendingResult,
    UpscaleRequest,
)

__all__ = [
    "Controller",
    "Editor",
    "GenerationSubmitter",
    "ImageProvider",
    "PollingProvider",
    "PromptEditor",
    "Upscaler",
    "WaitsForResults",
    "as_controller",
    "as_editor",
    "as_poller",
    "as_prompt_editor",
    "as_upscaler",
    "wait_for_result",
]


@runtime_checkable
class ImageProvider(Protocol):
    """What the studios need from any text-to-image provider."""

    @property
    def name(self) -> str: ...

    @property
    def default_model(self) -> str: ...

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Generate ``request.count`` images, blocking until they exist."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class PollingProvider(Protocol):
    """A provider with asynchronous work: submit elsewhere, then ``poll`` until it is done.

    A worker polls once per message and re-schedules itself while ``poll`` answers ``None``,
    instead of holding a thread; :class:`WaitsForResults` adds the bounded blocking ``wait``.
    """

    @property
    def name(self) -> str: ...

    def poll(self, pending: PendingResult) -> list[GeneratedImage] | None: ...


@runtime_checkable
class GenerationSubmitter(Protocol):
    """Asynchronous generation: one pending result per call the provider makes, then ``poll``."""

    @property
    def name(self) -> str: ...

    def submit_generate(self, request: GenerationRequest) -> list[PendingResult]: ...

    def poll(self, pending: PendingResult) -> list[GeneratedImage] | None: ...


@runtime_checkable
class Editor(Protocol):
    """Mask and operation edits (``EditRequest``): synchronous, or submitted for polling."""

    def edit(self, request: EditRequest) -> GeneratedImage: ...

    def submit_edit(self, request: EditRequest) -> PendingResult: ...


@runtime_checkable
class PromptEditor(Protocol):
    """Prompt-driven edits on an edit model (``GeneralEditRequest``), submitted for polling."""

    def submit_edit(self, request: GeneralEditRequest) -> PendingResult: ...


@runtime_checkable
class Upscaler(Protocol):
    """Upscales (``UpscaleRequest``): synchronous, or submitted for polling."""

    def upscale(self, request: UpscaleRequest) -> GeneratedImage: ...

    def submit_upscale(self, request: UpscaleRequest) -> PendingResult: ...


@runtime_checkable
class Controller(Protocol):
    """Image-conditioned generation (``ControlRequest``): sketch, structure, style, style transfer."""

    def control(self, request: ControlRequest) -> GeneratedImage: ...


def _lacks(client: object, capability: str) -> ProviderBadRequest:
    name = str(getattr(client, "name", type(client).__name__))
    return ProviderBadRequest(f"{name} cannot {capability}", provider=name)


def as_editor(client: object) -> Editor:
    """``client`` as an :class:`Editor`, or ``ProviderBadRequest`` when it has no such endpoints."""
    if not isinstance(client, Editor):
        raise _lacks(client, "edit")
    return client


def as_prompt_editor(client: object) -> PromptEditor:
    """``client`` as a :class:`PromptEditor`, or ``ProviderBadRequest``."""
    if not isinstance(client, PromptEditor):
        raise _lacks(client, "edit by prompt")
    return client


def as_upscaler(client: object) -> Upscaler:
    """``client`` as an :class:`Upscaler`, or ``ProviderBadRequest``."""
    if not isinstance(client, Upscaler):
        raise _lacks(client, "upscale")
    return client


def as_controller(client: object) -> Controller:
    """``client`` as a :class:`Controller`, or ``ProviderBadRequest``."""
    if not isinstance(client, Controller):
        raise _lacks(client, "run control operations")
    return client


def as_poller(client: object) -> PollingProvider:
    """``client`` as a :class:`PollingProvider`, or ``ProviderBadRequest``."""
    if not isinstance(client, PollingProvider):
        raise _lacks(client, "poll for results")
    return client


class WaitsForResults:
    """``wait``, once for every polling client: poll until done, for scripts and tests (workers poll per message)."""

    name: str
    #: Seconds between polls when the caller gives none.
    poll_interval_seconds: float

    def poll(self, pending: PendingResult) -> list[GeneratedImage] | None:
        raise NotImplementedError

    def wait(
        self,
        pending: PendingResult,
        *,
        interval: float | None = None,
        deadline: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[GeneratedImage]:
        """Poll until done or ``deadline`` seconds pass (ProviderTimeout)."""
        interval = self.poll_interval_seconds if interval is None else interval
        return wait_for_result(self, pending, interval=interval, deadline=deadline, sleep=sleep)


def wait_for_result(
    provider: PollingProvider,
    pending: PendingResult,
    *,
    interval: float,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[GeneratedImage]:
    """Poll until the result is ready or ``deadline`` seconds have passed (then ProviderTimeout).

    Time is the larger of the clock's and the sum of the intervals slept, so an injected
    ``sleep`` that returns at once still ends at the deadline.
    """
    started = clock()
    slept = 0.0
    while True:
        images = provider.poll(pending)
        if images is not None:
            return images
        elapsed = max(clock() - started, slept)
        if elapsed + interval > deadline:
            raise ProviderTimeout(
                f"{provider.name} result {pending.remote_id} not ready after {deadline:g} s",
                provider=provider.name,
                extra={"remote_id": pending.remote_id},
            )
        sleep(interval)
        slept += interval
