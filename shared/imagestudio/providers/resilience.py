"""Retries with backoff that honour ``retry_after``, and a per-provider circuit breaker.

The breaker keeps its state in a :class:`CircuitStore` so that every process can share one
view of a provider's health; :class:`InMemoryCircuitStore` serves one process (and tests).

Usage::

    breaker = CircuitBreaker("stability", store=store)
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=20.0)
    images = call_with_retries(lambda: client.generate(request), policy, breaker=breaker)
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol, TypedDict, TypeVar

from imagestudio.errors import ProviderError, ProviderUnavailable

__all__ = [
    "CircuitBreaker",
    "CircuitHealth",
    "CircuitOpen",
    "CircuitSnapshot",
    "CircuitState",
    "CircuitStore",
    "InMemoryCircuitStore",
    "RetryPolicy",
    "call_with_retries",
]

T = TypeVar("T")


class CircuitOpen(ProviderUnavailable):
    """Raised when a provider's circuit is open; callers fall back instead of retrying at once."""

    title, slug = "Provider circuit open", "provider-unavailable"


# --- retries ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How many attempts, and how long to wait between them.

    The wait is exponential (``base_delay * 2 ** (attempt - 1)``) with +/- ``jitter`` (a fraction),
    capped at ``max_delay``; a provider's ``retry_after`` replaces it, also capped at ``max_delay``
    so a worker thread never sleeps longer than we allow (the actor re-schedules beyond that).
    """

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.2
    #: Source of randomness for jitter, in [0, 1); injectable for tests.
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be >= 0 and jitter within [0, 1]")

    def delay_for(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_delay)
        delay = min(self.base_delay * 2.0 ** max(0, attempt - 1), self.max_delay)
        spread = delay * self.jitter * (2 * self.rng() - 1)
        return max(0.0, min(delay + spread, self.max_delay))

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """Whether attempt ``attempt`` failing with ``error`` earns another one."""
        if attempt >= self.max_attempts or isinstance(error, CircuitOpen):
            return False
        return isinstance(error, ProviderError) and error.retryable


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    breaker: CircuitBreaker | None = None,
    on_retry: Callable[[int, ProviderError, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, a permanent error occurs or attempts run out.

    Only transient ``ProviderError``s (``retryable``) are retried; an open circuit is not, so the
    caller can move to the next provider. ``on_retry(attempt, error, delay)`` is for logs/metrics.
    """
    attempt = 1
    while True:
        try:
            return breaker.call(fn) if breaker is not None else fn()
        except ProviderError as error:
            if not policy.should_retry(attempt, error):
                raise
            delay = policy.delay_for(attempt, error)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
            attempt += 1


# --- circuit breaker ----------------------------------------------------------------------


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass(frozen=True)
class CircuitSnapshot:
    """A provider's breaker state as stored (times are ``clock()`` readings, wall-clock by default)."""

    state: CircuitState = CircuitState.closed
    consecutive_failures: int = 0
    opened_at: float | None = None
    #: When the half-open trial call started; ``None`` when no trial is in flight.
    trial_started_at: float | None = None
    #: Recent outcomes as ``(time, ok)``, pruned to the breaker's window.
    outcomes: tuple[tuple[float, bool], ...] = ()


class CircuitStore(Protocol):
    """Where breaker state lives; ``update`` must be atomic (a row lock in a database store)."""

    def load(self, key: str) -> CircuitSnapshot: ...

    def update(self, key: str, change: Callable[[CircuitSnapshot], CircuitSnapshot]) -> CircuitSnapshot: ...


class InMemoryCircuitStore:
    """Breaker state for one process, guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, CircuitSnapshot] = {}

    def load(self, key: str) -> CircuitSnapshot:
        with self._lock:
            return self._snapshots.get(key, CircuitSnapshot())

    def update(self, key: str, change: Callable[[CircuitSnapshot], CircuitSnapshot]) -> CircuitSnapshot:
        with self._lock:
            snapshot = change(self._snapshots.get(key, CircuitSnapshot()))
            self._snapshots[key] = snapshot
            return snapshot


class CircuitHealth(TypedDict):
    state: str
    recent_error_rate: float
    opened_at: float | None
    consecutive_failures: int
    recent_calls: int


class CircuitBreaker:
    """Per-provider breaker: closed -> open -> half-open (one trial) -> closed.

    It opens after ``failure_threshold`` consecutive failures, or when at least ``min_calls``
    calls in the last ``window_seconds`` failed at ``error_rate_threshold`` or more. While open
    it rejects at once with :class:`CircuitOpen`; after ``cooldown_seconds`` one trial call goes
    through, and its success closes the circuit (its failure re-opens it).

    Only transient provider errors (5xx, timeouts, rate limits) count as failures: a bad
    request or a content-filter refusal is the provider answering, so it counts as health.
    """

    #: Outcomes kept per provider, whatever the window, so the stored state stays small.
    max_outcomes = 200

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int = 5,
        error_rate_threshold: float = 0.5,
        window_seconds: float = 60.0,
        min_calls: int = 10,
        cooldown_seconds: float = 30.0,
        store: CircuitStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.error_rate_threshold = error_rate_threshold
        self.window_seconds = window_seconds
        self.min_calls = min_calls
        self.cooldown_seconds = cooldown_seconds
        self._store: CircuitStore = store if store is not None else InMemoryCircuitStore()
        self._clock = clock
        self._key = f"provider:{provider}"

    # -- calls --

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker, recording its outcome."""
        self.before_call()
        try:
            result = fn()
        except ProviderError as error:
            if self.counts_as_failure(error):
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            # Our own bug says nothing about the provider; just free the trial slot.
            self._release_trial()
            raise
        self.record_success()
        return result

    def before_call(self) -> None:
        """Let the call through or raise :class:`CircuitOpen`."""
        now = self._clock()
        rejection: list[float] = []

        def admit(snapshot: CircuitSnapshot) -> CircuitSnapshot:
            if snapshot.state == CircuitState.closed:
                return snapshot
            if snapshot.state == CircuitState.open:
                opened_at = snapshot.opened_at if snapshot.opened_at is not None else now
                if now - opened_at >= self.cooldown_seconds:
                    return replace(snapshot, state=CircuitState.half_open, trial_started_at=now)
                rejection.append(self.cooldown_seconds - (now - opened_at))
                return snapshot
            # Half-open: one trial at a time; a trial that never reported back is presumed lost.
            trial = snapshot.trial_started_at
            if trial is None or now - trial >= self.cooldown_seconds:
                return replace(snapshot, trial_started_at=now)
            rejection.append(self.cooldown_seconds - (now - trial))
            return snapshot

        self._store.update(self._key, admit)
        if rejection:
            raise CircuitOpen(
                f"{self.provider} circuit is open; next trial in {rejection[0]:.1f} s",
                retry_after=max(0.0, rejection[0]),
                provider=self.provider,
            )

    def record_success(self) -> None:
        now = self._clock()

        def succeed(snapshot: CircuitSnapshot) -> CircuitSnapshot:
            outcomes = self._recent(snapshot.outcomes, now) + ((now, True),)
            if snapshot.state == CircuitState.open:
                # A call admitted before the circuit opened; it does not close it.
                return replace(snapshot, outcomes=outcomes)
            return CircuitSnapshot(outcomes=outcomes)

        self._store.update(self._key, succeed)

    def record_failure(self) -> None:
        now = self._clock()

        def fail(snapshot: CircuitSnapshot) -> CircuitSnapshot:
            outcomes = self._recent(snapshot.outcomes, now) + ((now, False),)
            failures = snapshot.consecutive_failures + 1
            if snapshot.state == CircuitState.half_open:
                return CircuitSnapshot(CircuitState.open, failures, now, None, outcomes)
            if snapshot.state == CircuitState.open:
                return replace(snapshot, consecutive_failures=failures, outcomes=outcomes)
            if failures >= self.failure_threshold or self._rate_tripped(outcomes):
                return CircuitSnapshot(CircuitState.open, failures, now, None, outcomes)
            return replace(snapshot, consecutive_failures=failures, outcomes=outcomes)

        self._store.update(self._key, fail)

    @staticmethod
    def counts_as_failure(error: ProviderError) -> bool:
        """Transient errors say the provider is unwell; permanent ones are about the request."""
        return error.retryable and not isinstance(error, CircuitOpen)

    # -- state --

    @property
    def state(self) -> CircuitState:
        """The effective state: an open circuit past its cool-down reads as half-open."""
        snapshot = self._store.load(self._key)
        if (
            snapshot.state == CircuitState.open
            and snapshot.opened_at is not None
            and self._clock() - snapshot.opened_at >= self.cooldown_seconds
        ):
            return CircuitState.half_open
        return snapshot.state

    def health(self) -> CircuitHealth:
        """State, error rate over the window, and when the circuit opened (``None`` if closed)."""
        snapshot = self._store.load(self._key)
        recent = self._recent(snapshot.outcomes, self._clock())
        failures = sum(1 for _, ok in recent if not ok)
        return {
            "state": self.state.value,
            "recent_error_rate": failures / len(recent) if recent else 0.0,
            "opened_at": snapshot.opened_at,
            "consecutive_failures": snapshot.consecutive_failures,
            "recent_calls": len(recent),
        }

    def hold_open(self, seconds: float) -> None:
        """Open the circuit for ``seconds`` from now, whatever the failure count (a vendor lockout).

        Stored as an opening ``cooldown_seconds`` before the lockout ends, so the one trial call
        comes when the vendor lets the key in again; a longer hold already in place is kept.
        """
        opened_at = self._clock() + seconds - self.cooldown_seconds

        def hold(snapshot: CircuitSnapshot) -> CircuitSnapshot:
            if (
                snapshot.state == CircuitState.open
                and snapshot.opened_at is not None
                and snapshot.opened_at >= opened_at
            ):
                return snapshot
            return replace(snapshot, state=CircuitState.open, opened_at=opened_at, trial_started_at=None)

        self._store.update(self._key, hold)

    def reset(self) -> None:
        """Close the circuit and forget its history (operators, tests)."""
        self._store.update(self._key, lambda _: CircuitSnapshot())

    # -- internals --

    def _recent(self, outcomes: tuple[tuple[float, bool], ...], now: float) -> tuple[tuple[float, bool], ...]:
        kept = tuple(outcome for outcome in outcomes if now - outcome[0] <= self.window_seconds)
        return kept[-(self.max_outcomes - 1) :]

    def _rate_tripped(self, outcomes: tuple[tuple[float, bool], ...]) -> bool:
        if len(outcomes) < self.min_calls:
            return False
        failures = sum(1 for _, ok in outcomes if not ok)
        return failures / len(outcomes) >= self.error_rate_threshold

    def _release_trial(self) -> None:
        def release(snapshot: CircuitSnapshot) -> CircuitSnapshot:
            if snapshot.state == CircuitState.half_open:
                return replace(snapshot, trial_started_at=None)
            return snapshot

        self._store.update(self._key, release)
