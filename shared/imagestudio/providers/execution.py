"""Choosing providers and calling them for a batch: quality table, auto selection, retries, fallback.

::

    QUALITY_TABLE        quality level -> per provider: model and parameters (the one table)
    ProviderDirectory    where each provider is reached in this process: settings or a local simulator
    plan(...)            ordered candidates for a request (auto: every fitting provider, best first)
    ProviderExecutor     runs a batch: split by max images per call, retries with backoff honouring
                         Retry-After, the shared circuit breaker, then (auto) the next candidate

Auto selection ranks the models that can make the requested aspect (within ``MAX_CROP``) by:
circuit health (open circuits last), distance from the asked quality level, the template's
suggested providers, then credits per image (cheapest first), then the registry's preference.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from imagestudio.config import Settings, get_settings
from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ValidationFailed,
)
from imagestudio.providers.base import (
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    ModelInfo,
    OutputFormat,
    Quality,
)
from imagestudio.providers.health import DatabaseCircuitStore, circuit_key
from imagestudio.providers.registry import CATALOGUE, PROVIDER_CLASSES, QUALITY_MODELS
from imagestudio.providers.resilience import (
    CircuitBreaker,
    CircuitHealth,
    CircuitOpen,
    CircuitSnapshot,
    CircuitState,
    CircuitStore,
    InMemoryCircuitStore,
    RetryPolicy,
)
from imagestudio.providers.wavespeed import WaveSpeedClient
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import (
    PROVIDER_CIRCUIT_OPEN,
    PROVIDER_FALLBACKS,
    PROVIDER_LATENCY,
    PROVIDER_REQUESTS,
    PROVIDER_RETRIES,
)

__all__ = [
    "MAX_CROP",
    "PROVIDERS",
    "PROVIDER_LABELS",
    "QUALITY_TABLE",
    "BatchReport",
    "BatchSpec",
    "Candidate",
    "Endpoint",
    "ProviderDirectory",
    "ProviderExecutor",
    "QualityChoice",
    "breaker_for",
    "fit",
    "parse_ratio",
    "plan",
    "provider_directory",
    "provider_executor",
    "provider_health",
]

log = get_logger(__name__)

PROVIDERS: tuple[str, ...] = ("stability", "wavespeed", "huggingface", "gemini")
PROVIDER_LABELS: dict[str, str] = {
    "stability": "Stability AI",
    "wavespeed": "WaveSpeedAI",
    "huggingface": "Hugging Face",
    "gemini": "Google Gemini (Imagen)",
}
#: Largest share of the image a model's nearest aspect may lose when cropped to the asked one.
MAX_CROP = 0.15
#: Smallest side the size-based models are asked for (their clients clamp to it).
_MIN_SIDE = 256
_QUALITY_RANK: dict[str, int] = {"draft": 0, "standard": 1, "premium": 2}


@dataclass(frozen=True)
class QualityChoice:
    """What one quality level means on one provider."""

    model: str
    steps: int | None = None
    guidance_scale: float | None = None


#: Quality level -> provider -> model and parameters. Imagen and Stability's ultra/core take no
#: step count; sd3.5 flash/turbo are distilled for cfg 1; FLUX.1 schnell for 4 steps.
QUALITY_TABLE: Mapping[Quality, Mapping[str, QualityChoice]] = {
    "draft": {
        "stability": QualityChoice("sd3.5-flash", guidance_scale=1.0),
        "wavespeed": QualityChoice("qwen-image", steps=20),
        "huggingface": QualityChoice("black-forest-labs/FLUX.1-schnell", steps=4),
        "gemini": QualityChoice("imagen-4.0-fast-generate-001"),
    },
    "standard": {
        "stability": QualityChoice("core"),
        "wavespeed": QualityChoice("qwen-image", steps=30),
        "huggingface": QualityChoice("black-forest-labs/FLUX.1-dev", steps=28, guidance_scale=3.5),
        "gemini": QualityChoice("imagen-4.0-generate-001"),
    },
    "premium": {
        "stability": QualityChoice("ultra"),
        "wavespeed": QualityChoice("ideogram-v3-turbo"),
        "huggingface": QualityChoice("black-forest-labs/FLUX.1-dev", steps=50, guidance_scale=3.5),
        "gemini": QualityChoice("imagen-4.0-ultra-generate-001"),
    },
}


# --- aspect fit ------------------------------------------------------------------------------


def parse_ratio(value: str, *, field: str = "aspect_ratio") -> float:
    """``W:H`` (integers or decimals, e.g. ``1.91:1``) as a float between 1:8 and 8:1."""
    width, sep, height = value.partition(":")
    try:
        ratio = float(width) / float(height) if sep else math.nan
    except (ValueError, ZeroDivisionError):
        ratio = math.nan
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValidationFailed(field, f"{value!r} is not a ratio like 16:9 or 1.91:1")
    if not 1 / 8 <= ratio <= 8:
        raise ValidationFailed(field, f"{value} is outside the supported range 1:8 to 8:1")
    return ratio


def _ratio_of(label: str) -> float:
    width, _, height = label.partition(":")
    return float(width) / float(height)


def _crop(asked: float, got: float) -> float:
    return 1 - min(asked, got) / max(asked, got)


def fit(info: ModelInfo, ratio: float) -> tuple[str | None, float]:
    """The provider aspect to ask for (``None``: ask for the size) and the share the crop will lose."""
    if info.megapixels is None and info.max_side:
        # Size-based models take any shape inside [min side, max side].
        bounded = min(max(ratio, _MIN_SIDE / info.max_side), info.max_side / _MIN_SIDE)
        return None, _crop(ratio, bounded)
    best = min(info.aspect_ratios, key=lambda label: abs(math.log(_ratio_of(label) / ratio)))
    return best, _crop(ratio, _ratio_of(best))


# --- candidates ------------------------------------------------------------------------------


class Candidate(BaseModel):
    """One provider model a job may call, with the parameters the quality level gives it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    quality: Quality
    credits_per_image: float
    max_images_per_call: int
    #: The aspect ratio to ask for, or ``None`` to ask for an exact size.
    provider_aspect_ratio: str | None
    crop: float
    native_style: bool
    steps: int | None = None
    guidance_scale: float | None = None
    asynchronous: bool = False

    @property
    def credits(self) -> int:
        """Whole credits charged per image (fractional prices round up)."""
        return math.ceil(self.credits_per_image)


def _candidate(info: ModelInfo, ratio: float, choice: QualityChoice | None) -> Candidate | None:
    provider_aspect, crop = fit(info, ratio)
    if crop > MAX_CROP:
        return None
    return Candidate(
        provider=info.provider,
        model=info.model,
        quality=info.quality or "standard",
        credits_per_image=info.credits_per_image,
        max_images_per_call=info.max_images_per_call,
        provider_aspect_ratio=provider_aspect,
        crop=round(crop, 4),
        native_style=bool(info.style_presets),
        steps=choice.steps if choice else None,
        guidance_scale=choice.guidance_scale if choice else None,
        asynchronous=info.asynchronous,
    )


def _generate_models(provider: str) -> list[ModelInfo]:
    return [info for info in CATALOGUE if info.provider == provider and info.kind == "generate"]


def _best_for_provider(provider: str, quality: Quality, ratio: float) -> Candidate | None:
    """The provider's table model for ``quality``, else its nearest-quality model that fits the aspect."""
    table = QUALITY_TABLE[quality][provider]
    ordered = sorted(
        _generate_models(provider),
        key=lambda info: (
            info.model != table.model,
            abs(_QUALITY_RANK[info.quality or "standard"] - _QUALITY_RANK[quality]),
            info.credits_per_image,
        ),
    )
    for info in ordered:
        choice = _choice_for(provider, info.model, quality)
        candidate = _candidate(info, ratio, choice)
        if candidate is not None:
            return candidate
    return None


def _choice_for(provider: str, model: str, quality: Quality) -> QualityChoice | None:
    """The table's parameters for ``model``: from the asked level when it lists it, else any level."""
    levels: list[Quality] = [quality, *(level for level in QUALITY_TABLE if level != quality)]
    for level in levels:
        choice = QUALITY_TABLE[level][provider]
        if choice.model == model:
            return choice
    return None


def _aspect_refusal(provider: str, models: Sequence[ModelInfo], ratio: float) -> ValidationFailed:
    shapes = sorted({label for info in models for label in info.aspect_ratios if info.megapixels is not None})
    sized = [info for info in models if info.megapixels is None and info.max_side]
    offer = ", ".join(shapes) if shapes else ""
    if sized:
        limit = max(info.max_side or 0 for info in sized) / _MIN_SIDE
        offer = (offer + "; " if offer else "") + f"any shape up to {limit:g}:1"
    return ValidationFailed(
        "aspect_ratio",
        f"{provider} cannot produce {ratio:.2f}:1 without cropping more than {MAX_CROP:.0%}"
        f" (it offers {offer}); choose another aspect or provider",
    )


def plan(
    *,
    quality: Quality,
    ratio: float,
    provider: str = "auto",
    model: str | None = None,
    suggested: Sequence[str] = (),
    allowed: Collection[str] = PROVIDERS,
    available: Sequence[str] = PROVIDERS,
    health: Mapping[str, CircuitHealth] | None = None,
) -> list[Candidate]:
    """The providers to try for a request, in order; an explicit provider or model gives one candidate.

    Raises ``ValidationFailed`` naming ``provider``, ``model`` or ``aspect_ratio`` when the
    request cannot be served, so the gateway refuses it before anything is queued.
    """
    if model is not None:
        owners = [info for info in CATALOGUE if info.model == model and info.kind == "generate"]
        if provider != "auto":
            owners = [info for info in owners if info.provider == provider]
        if not owners:
            known = ", ".join(
                info.model
                for info in CATALOGUE
                if info.kind == "generate" and provider in ("auto", info.provider)
            )
            raise ValidationFailed(
                "model",
                f"unknown model {model!r}{'' if provider == 'auto' else f' for {provider}'}; choose from {known}",
            )
        info = owners[0]
        _require_available(info.provider, available, field="model" if provider == "auto" else "provider")
        candidate = _candidate(info, ratio, _choice_for(info.provider, info.model, quality))
        if candidate is None:
            raise _aspect_refusal(f"{info.provider} {info.model}", [info], ratio)
        return [candidate]
    if provider != "auto":
        if provider not in PROVIDERS:
            raise ValidationFailed(
                "provider", f"unknown provider {provider!r}; choose auto or {', '.join(PROVIDERS)}"
            )
        _require_available(provider, available, field="provider")
        candidate = _best_for_provider(provider, quality, ratio)
        if candidate is None:
            raise _aspect_refusal(provider, _generate_models(provider), ratio)
        return [candidate]

    usable = [name for name in PROVIDERS if name in allowed and name in available]
    if not usable:
        raise ValidationFailed(
            "provider", "no image provider is available to this tenant (none configured or simulated)"
        )
    found = [c for c in (_best_for_provider(name, quality, ratio) for name in usable) if c is not None]
    if not found:
        raise ValidationFailed(
            "aspect_ratio",
            f"no available provider can produce {ratio:.2f}:1 without cropping more than {MAX_CROP:.0%}",
        )
    preference = {key: index for index, key in enumerate(QUALITY_MODELS[quality])}
    health = health or {}

    def rank(candidate: Candidate) -> tuple[Any, ...]:
        state = health.get(candidate.provider)
        bucket = 0
        if state is not None:
            if state["state"] == CircuitState.open.value:
                bucket = 2
            elif state["recent_calls"] >= 3 and state["recent_error_rate"] >= 0.5:
                bucket = 1
        return (
            bucket,
            abs(_QUALITY_RANK[candidate.quality] - _QUALITY_RANK[quality]),
            suggested.index(candidate.provider) if candidate.provider in suggested else len(suggested),
            candidate.credits_per_image,
            preference.get((candidate.provider, candidate.model), len(preference)),
        )

    return sorted(found, key=rank)


def _require_available(provider: str, available: Sequence[str], *, field: str) -> None:
    if provider not in available:
        raise ValidationFailed(
            field,
            f"{provider} is not configured here (no IMAGESTUDIO_{provider.upper()}_API_KEY and no simulator)",
        )


# --- where providers are reached -------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """How this process reaches one provider."""

    provider: str
    base_url: str
    api_key: SecretStr = field(repr=False)
    #: A labelled local simulator (started by ``imagestudio up`` or a test), not the provider.
    simulated: bool = False
    #: Test hook: an in-process transport instead of sockets.
    transport: httpx.BaseTransport | None = field(default=None, compare=False, repr=False)


class ProviderDirectory:
    """Configured providers from settings, plus the local simulators this process was given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._simulators: dict[str, Endpoint] = {}

    def use_simulators(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        """Reach these providers through local simulators (``{name: {api_key, base_url, transport?}}``)."""
        with self._lock:
            for name, values in config.items():
                self._simulators[name] = Endpoint(
                    provider=name,
                    base_url=str(values["base_url"]),
                    api_key=SecretStr(str(values["api_key"])),
                    simulated=True,
                    transport=values.get("transport"),
                )

    def clear_simulators(self) -> None:
        with self._lock:
            self._simulators.clear()

    def endpoint(self, provider: str, settings: Settings | None = None) -> Endpoint | None:
        """A configured key wins over a simulator; ``None`` when the provider cannot be reached."""
        settings = settings or get_settings()
        key: SecretStr = getattr(settings, f"{provider}_api_key")
        if key.get_secret_value().strip():
            return Endpoint(
                provider=provider, base_url=getattr(settings, f"{provider}_base_url"), api_key=key
            )
        with self._lock:
            return self._simulators.get(provider)

    def available(self, settings: Settings | None = None) -> dict[str, Endpoint]:
        return {name: ep for name in PROVIDERS if (ep := self.endpoint(name, settings)) is not None}


provider_directory = ProviderDirectory()


class _LabelTransport(httpx.BaseTransport):
    """Passes requests through and notes whether answers carry a simulator's ``X-Simulator`` label."""

    def __init__(self, inner: httpx.BaseTransport, *, owned: bool) -> None:
        self._inner = inner
        #: Close ``inner`` with us only when we made it (an injected transport belongs to its giver).
        self._owned = owned
        self.simulator_seen = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if response.headers.get("x-simulator"):
            self.simulator_seen = True
        return response

    def close(self) -> None:
        if self._owned:
            self._inner.close()


class _ClientPool:
    """One pooled client per endpoint, shared by the worker's threads (httpx clients are thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], tuple[ImageProvider, _LabelTransport]] = {}

    def get(self, endpoint: Endpoint, timeout: float) -> tuple[ImageProvider, _LabelTransport]:
        key = (
            endpoint.provider,
            endpoint.base_url,
            endpoint.api_key.get_secret_value(),
            timeout,
            id(endpoint.transport),
        )
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                inner = endpoint.transport or httpx.HTTPTransport(
                    limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
                )
                transport = _LabelTransport(inner, owned=endpoint.transport is None)
                client = PROVIDER_CLASSES[endpoint.provider](
                    api_key=endpoint.api_key.get_secret_value(),
                    base_url=endpoint.base_url,
                    timeout=timeout,
                    transport=transport,
                )
                found = self._clients[key] = (client, transport)
            return found

    def close(self) -> None:
        with self._lock:
            for client, _ in self._clients.values():
                client.close()
            self._clients.clear()


# --- health ----------------------------------------------------------------------------------

_store = DatabaseCircuitStore()


def breaker_for(
    provider: str, *, store: CircuitStore | None = None, settings: Settings | None = None
) -> CircuitBreaker:
    """The provider's circuit breaker on the shared (database) store, tuned by settings."""
    settings = settings or get_settings()
    return CircuitBreaker(
        provider,
        failure_threshold=settings.circuit_failure_threshold,
        cooldown_seconds=settings.circuit_cooldown_seconds,
        window_seconds=settings.circuit_window_seconds,
        store=store or _store,
    )


def provider_health(
    *, store: DatabaseCircuitStore | None = None
) -> dict[str, tuple[CircuitHealth, bool | None]]:
    """Every provider's breaker health and whether its endpoint last answered as a simulator."""
    store = store or _store
    observed = store.all()  # one query; each breaker then reads its own row from memory
    report = {}
    for name in PROVIDERS:
        snapshot = observed.get(circuit_key(name), (CircuitSnapshot(), None))[0]
        memory = InMemoryCircuitStore()

        def stored(_: CircuitSnapshot, snapshot: CircuitSnapshot = snapshot) -> CircuitSnapshot:
            return snapshot

        memory.update(circuit_key(name), stored)
        health = breaker_for(name, store=memory).health()
        PROVIDER_CIRCUIT_OPEN.labels(name).set(1 if health["state"] == CircuitState.open.value else 0)
        report[name] = (health, observed.get(circuit_key(name), (None, None))[1])
    return report


# --- running a batch -------------------------------------------------------------------------


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


class _GiveUp(Exception):
    """Raised when one candidate cannot serve a call (retries spent, circuit open, long Retry-After)."""

    def __init__(self, error: ProviderError, *, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


OnImages = Callable[[list[int], list[GeneratedImage], CallReport], None]
Checkpoint = Callable[[str], None]


def _status_of(error: ProviderError) -> str:
    """The ``status`` label of ``imagestudio_provider_requests_total`` for a failed call."""
    for kind, label in (
        (CircuitOpen, "circuit_open"),
        (ProviderRateLimited, "429"),
        (ProviderTimeout, "timeout"),
        (ProviderUnavailable, "unavailable"),
        (ProviderContentFiltered, "content_filtered"),
        (ProviderBadRequest, "400"),
    ):
        if isinstance(error, kind):
            return label
    return "error"


class ProviderExecutor:
    """Runs a batch against its candidates; one per process (clients are pooled inside)."""

    def __init__(
        self,
        *,
        directory: ProviderDirectory | None = None,
        store: DatabaseCircuitStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.directory = directory or provider_directory
        self.store = store or _store
        self._sleep = sleep
        self._pool = _ClientPool()
        self._marked: dict[str, bool] = {}

    def close(self) -> None:
        self._pool.close()

    def client_for(self, provider: str) -> tuple[ImageProvider, Callable[[], bool]]:
        """The pooled client of ``provider`` for callers with their own requests (edit, upscale), and
        a check to run after a call: whether a simulator answered (also recorded for ``GET /providers``)."""
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

    def run_batch(
        self, spec: BatchSpec, *, variations: Sequence[int], on_images: OnImages, checkpoint: Checkpoint
    ) -> BatchReport:
        """Make an image for each variation index; calls follow each model's max images per call.

        The first candidate serves until it fails for good; then (auto mode has several) the next
        one takes over the remaining variations. A permanent refusal stops the batch at once.
        """
        report = BatchReport()
        remaining = sorted(variations)
        active = 0
        fallback_from: list[dict[str, Any]] = []
        while remaining:
            if active >= len(spec.candidates):
                problem = self._problem(report.last_error, "no candidate provider left")
                report.failed.update(dict.fromkeys(remaining, problem))
                break
            candidate = spec.candidates[active]
            chunk = remaining[: max(1, candidate.max_images_per_call)]
            try:
                images, call = self._call(candidate, spec, chunk, checkpoint)
            except _GiveUp as give_up:
                reason = give_up.error.detail
                report.last_error = give_up.error
                if give_up.retry_after is not None:
                    report.retry_after = max(report.retry_after or 0.0, give_up.retry_after)
                step = {"provider": candidate.provider, "model": candidate.model, "reason": reason}
                report.fallbacks.append({**step, "variations": [v + 1 for v in chunk]})
                fallback_from = [*fallback_from, step]
                PROVIDER_FALLBACKS.labels("create", candidate.provider).inc()
                log.warning(
                    "provider.gave_up", provider=candidate.provider, model=candidate.model, reason=reason
                )
                active += 1
                continue
            except (ProviderBadRequest, ProviderContentFiltered) as refusal:
                report.permanent = refusal
                problem = self._problem(refusal, "")
                report.failed.update(dict.fromkeys(remaining, problem))
                break
            call.fallback_from = fallback_from
            served = chunk[: len(images)]
            if served:
                on_images(served, images[: len(served)], call)
            for missing in chunk[len(images) :]:
                report.failed[missing] = {
                    "title": "No image",
                    "detail": f"{candidate.provider} returned {len(images)} of {len(chunk)} images (the rest were filtered)",
                    "provider": candidate.provider,
                }
            remaining = remaining[len(chunk) :]
        return report

    # -- one call with retries --

    def _call(
        self, candidate: Candidate, spec: BatchSpec, chunk: Sequence[int], checkpoint: Checkpoint
    ) -> tuple[list[GeneratedImage], CallReport]:
        settings = get_settings()
        endpoint = self.directory.endpoint(candidate.provider, settings)
        if endpoint is None:
            raise _GiveUp(
                ProviderUnavailable(
                    f"{candidate.provider} is not configured in this worker", provider=candidate.provider
                )
            )
        client, transport = self._pool.get(endpoint, settings.provider_timeout_seconds)
        request, prompt = self._request(candidate, spec, chunk)
        breaker = breaker_for(candidate.provider, store=self.store, settings=settings)
        policy = RetryPolicy(
            max_attempts=settings.provider_max_attempts,
            base_delay=settings.provider_retry_base_seconds,
            max_delay=settings.provider_max_wait_seconds,
        )
        attempt = 1
        while True:
            checkpoint(
                f"calling {candidate.provider} {candidate.model} for image {chunk[0] + 1} (attempt {attempt})"
            )
            started = time.perf_counter()
            try:
                images = breaker.call(lambda: self._generate(client, request, checkpoint))
            except CircuitOpen as error:
                PROVIDER_REQUESTS.labels(candidate.provider, "circuit_open").inc()
                PROVIDER_CIRCUIT_OPEN.labels(candidate.provider).set(1)
                raise _GiveUp(error) from error
            except ProviderError as error:
                PROVIDER_REQUESTS.labels(candidate.provider, _status_of(error)).inc()
                if isinstance(error, ProviderBadRequest | ProviderContentFiltered):
                    raise
                if not error.retryable:  # a garbled answer: this provider is not working
                    raise _GiveUp(error) from error
                retry_after = getattr(error, "retry_after", None)
                if retry_after is not None and retry_after > settings.provider_max_wait_seconds:
                    raise _GiveUp(error, retry_after=retry_after) from error
                if attempt >= policy.max_attempts:
                    raise _GiveUp(error) from error
                delay = policy.delay_for(attempt, error)
                PROVIDER_RETRIES.labels(candidate.provider).inc()
                log.info(
                    "provider.retrying",
                    provider=candidate.provider,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                    error=error.detail,
                )
                self._sleep(delay)
                attempt += 1
                continue
            seconds = time.perf_counter() - started
            PROVIDER_REQUESTS.labels(candidate.provider, "200").inc()
            PROVIDER_LATENCY.labels(candidate.provider).observe(seconds)
            PROVIDER_CIRCUIT_OPEN.labels(candidate.provider).set(0)
            simulated = endpoint.simulated or transport.simulator_seen
            self._mark_simulated(candidate.provider, simulated)
            return images, CallReport(candidate, attempt, simulated, seconds, prompt, [])

    def _request(
        self, candidate: Candidate, spec: BatchSpec, chunk: Sequence[int]
    ) -> tuple[GenerationRequest, str]:
        # Models without presets get the style in words, so the preset is never silently dropped.
        prompt = spec.prompt if candidate.native_style else spec.styled_prompt
        size: dict[str, Any]
        if candidate.provider_aspect_ratio is not None:
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
            **size,
        )
        return request, prompt

    def _generate(
        self, client: ImageProvider, request: GenerationRequest, checkpoint: Checkpoint
    ) -> list[GeneratedImage]:
        if not isinstance(client, WaveSpeedClient):
            return client.generate(request)
        # Asynchronous: submit, then poll at the configured interval (each poll also checks for a cancel).
        settings = get_settings()
        images: list[GeneratedImage] = []
        for pending in client.submit_generate(request):
            deadline = time.monotonic() + settings.provider_poll_deadline_seconds
            polls = 0
            while True:
                result = client.poll(pending)
                polls += 1
                if result is not None:
                    images.extend(result)
                    break
                if time.monotonic() + settings.provider_poll_interval_seconds > deadline:
                    raise ProviderTimeout(
                        f"{client.name} prediction {pending.remote_id} not ready after "
                        f"{settings.provider_poll_deadline_seconds:g} s ({polls} polls)",
                        provider=client.name,
                    )
                checkpoint(f"waiting for {client.name} prediction {pending.remote_id} (poll {polls})")
                self._sleep(settings.provider_poll_interval_seconds)
        return images

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
