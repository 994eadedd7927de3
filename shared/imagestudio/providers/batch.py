"""What a batch of create's provider calls is given and what it reports: plain records.

:class:`BatchSpec` is what every call of a batch shares; :class:`CallReport` how one call's images
were obtained; :class:`BatchReport` the outcome beyond the images (failures, fallbacks, predictions
still in flight). Apart from the engine that fills them (:mod:`imagestudio.providers.execution`), so a
studio reads and builds them without the retry, breaker and polling machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestudio.errors import ProviderError
from imagestudio.providers.schemas import GeneratedImage, OutputFormat, PendingResult, Quality
from imagestudio.providers.selection import Candidate

__all__ = ["BatchReport", "BatchSpec", "CallReport", "OnImages", "OnSubmitted"]


@dataclass(frozen=True)
class BatchSpec:
    """What every call of a batch shares."""

    prompt: str
    #: ``prompt`` with the style preset in words, for models without native presets.
    styled_prompt: str
    negative_prompt: str | None
    style_preset: str | None
    output_format: OutputFormat
    quality: Quality
    ratio: float
    #: Image ``i`` of the batch uses ``seed + i``.
    seed: int
    candidates: Sequence[Candidate]
    #: Image-to-image: the image every call starts from, and its strength (0 keeps it, 1 ignores it).
    init_image: bytes | None = None
    strength: float | None = None
    #: Predictions an earlier delivery submitted (variation index -> pending work): resumed, never re-posted.
    submitted: Mapping[int, PendingResult] = field(default_factory=dict)


@dataclass
class CallReport:
    """How the images of one call were obtained."""

    candidate: Candidate
    attempts: int
    simulated: bool
    seconds: float
    prompt: str
    fallback_from: list[dict[str, Any]]


@dataclass
class BatchReport:
    """The batch's outcome beyond the images handed to ``on_images``."""

    #: Variation index -> the problem that stopped it.
    failed: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Providers given up on, in order: ``{provider, model, reason, variations}``.
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    #: A permanent refusal (bad request, content filtered) that ended the batch.
    permanent: ProviderError | None = None
    #: The last transient error, when variations are left without an image.
    last_error: ProviderError | None = None
    #: The longest Retry-After that was too long to wait for in the worker thread.
    retry_after: float | None = None
    #: Variations whose accepted prediction could not be polled to the end: still billed at the
    #: vendor, so never handed to another candidate; a later delivery resumes polling them.
    in_flight: dict[int, PendingResult] = field(default_factory=dict)


#: Handed each call's images, with the variations they fill and how they were obtained.
OnImages = Callable[[list[int], list[GeneratedImage], CallReport], None]
#: Told of each accepted prediction (``None`` once it is finished with), to store before polling it.
OnSubmitted = Callable[[int, PendingResult | None], None]
