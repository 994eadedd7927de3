"""RetryPolicy, call_with_retries and CircuitBreaker with injected sleep and a fake clock."""

from __future__ import annotations

import pytest

from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagestudio.providers import (
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
    InMemoryCircuitStore,
    RetryPolicy,
    call_with_retries,
)


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Scripted:
    """A call that raises its ``errors`` in turn, then returns ``result``; counts its calls."""

    def __init__(self, *errors: Exception, result: str = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


# --- RetryPolicy --------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.0)

    assert [policy.delay_for(attempt) for attempt in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_spreads_around_the_backoff() -> None:
    low = RetryPolicy(base_delay=2.0, jitter=0.5, rng=lambda: 0.0)
    high = RetryPolicy(base_delay=2.0, jitter=0.5, rng=lambda: 0.999999)

    assert low.delay_for(1) == 1.0
    assert high.delay_for(1) == pytest.approx(3.0, abs=1e-4)


def test_retry_after_replaces_backoff_but_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=0.0)

    assert policy.delay_for(1, ProviderRateLimited(retry_after=12.0)) == 12.0
    assert policy.delay_for(1, ProviderRateLimited(retry_after=600.0)) == 30.0
    assert policy.delay_for(3, ProviderUnavailable(retry_after=None)) == 4.0


def test_only_transient_errors_are_retried() -> None:
    policy = RetryPolicy(max_attempts=5)

    assert policy.should_retry(1, ProviderTimeout())
    assert policy.should_retry(1, ProviderUnavailable())
    assert not policy.should_retry(1, ProviderBadRequest())
    assert not policy.should_retry(1, ProviderContentFiltered())
    assert not policy.should_retry(1, CircuitOpen())
    assert not policy.should_retry(5, ProviderTimeout())


# --- call_with_retries --------------------------------------------------------------------


def test_retries_until_success_sleeping_the_policy_delays() -> None:
    call = Scripted(ProviderTimeout(), ProviderUnavailable(retry_after=3.0))
    slept: list[float] = []

    result = call_with_retries(
        call, RetryPolicy(max_attempts=3, base_delay=0.5, jitter=0.0), sleep=slept.append
    )

    assert result == "ok"
    assert slept == [0.5, 3.0]
    assert call.calls == 3


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    call = Scripted(ProviderTimeout("1"), ProviderTimeout("2"), ProviderTimeout("3"))
    slept: list[float] = []

    with pytest.raises(ProviderTimeout, match="2"):
        call_with_retries(call, RetryPolicy(max_attempts=2, jitter=0.0), sleep=slept.append)

    assert len(slept) == 1


def test_permanent_errors_are_raised_at_once() -> None:
    call = Scripted(ProviderBadRequest("bad prompt"))
    slept: list[float] = []

    with pytest.raises(ProviderBadRequest):
        call_with_retries(call, RetryPolicy(max_attempts=5), sleep=slept.append)

    assert slept == []
    assert call.calls == 1


def test_on_retry_reports_each_retry() -> None:
    seen: list[tuple[int, str, float]] = []

    call_with_retries(
        Scripted(ProviderRateLimited(retry_after=2.0)),
        RetryPolicy(max_attempts=2),
        sleep=lambda _: None,
        on_retry=lambda attempt, error, delay: seen.append((attempt, type(error).__name__, delay)),
    )

    assert seen == [(1, "ProviderRateLimited", 2.0)]


# --- CircuitBreaker -----------------------------------------------------------------------


def breaker(clock: FakeClock, **options: float) -> CircuitBreaker:
    settings: dict[str, float] = {
        "failure_threshold": 3,
        "cooldown_seconds": 30.0,
        "min_calls": 100,
    } | options
    return CircuitBreaker("stability", clock=clock, **settings)  # type: ignore[arg-type]


def trip(circuit: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ProviderUnavailable):
            circuit.call(Scripted(ProviderUnavailable("down")))


def opened() -> tuple[FakeClock, CircuitBreaker]:
    """A circuit (the defaults above) opened by three failures in a row, and its clock."""
    clock = FakeClock()
    circuit = breaker(clock)
    trip(circuit, 3)
    return clock, circuit


def test_opens_after_consecutive_failures_and_rejects_fast() -> None:
    clock, circuit = opened()
    call = Scripted()

    with pytest.raises(CircuitOpen) as caught:
        circuit.call(call)

    assert circuit.state is CircuitState.open
    assert call.calls == 0
    assert caught.value.retry_after == 30.0
    assert caught.value.provider == "stability"
    assert circuit.health() == {
        "state": "open",
        "recent_error_rate": 1.0,
        "opened_at": 1_000.0,
        "consecutive_failures": 3,
        "recent_calls": 3,
    }


def test_a_success_resets_the_consecutive_count() -> None:
    circuit = breaker(FakeClock())
    trip(circuit, 2)
    circuit.call(Scripted())
    trip(circuit, 2)

    assert circuit.state is CircuitState.closed


def test_half_opens_after_cool_down_lets_one_trial_and_closes_on_success() -> None:
    clock, circuit = opened()
    clock.advance(29.9)
    with pytest.raises(CircuitOpen):
        circuit.call(Scripted())

    clock.advance(0.1)
    assert circuit.state is CircuitState.half_open
    circuit.before_call()  # the one trial call is let through...
    with pytest.raises(CircuitOpen):
        circuit.before_call()  # ...and a second caller is not
    circuit.record_success()

    assert circuit.state is CircuitState.closed
    assert circuit.health()["opened_at"] is None
    assert circuit.call(Scripted(result="back")) == "back"


def test_failed_trial_reopens_for_another_cool_down() -> None:
    clock, circuit = opened()
    clock.advance(30.0)

    trip(circuit, 1)

    assert circuit.state is CircuitState.open
    assert circuit.health()["opened_at"] == 1_030.0
    with pytest.raises(CircuitOpen):
        circuit.call(Scripted())


def test_opens_on_error_rate_over_the_window() -> None:
    clock = FakeClock()
    circuit = breaker(
        clock, failure_threshold=100, min_calls=6, error_rate_threshold=0.5, window_seconds=60.0
    )
    for _ in range(3):
        circuit.call(Scripted())
        trip(circuit, 1)  # alternate: never two failures in a row

    assert circuit.state is CircuitState.open
    assert circuit.health()["recent_error_rate"] == 0.5


def test_old_outcomes_fall_out_of_the_window() -> None:
    clock = FakeClock()
    circuit = breaker(
        clock, failure_threshold=100, min_calls=4, error_rate_threshold=0.5, window_seconds=60.0
    )
    trip(circuit, 2)
    clock.advance(61.0)
    for _ in range(3):
        circuit.call(Scripted())
    trip(circuit, 1)

    assert circuit.state is CircuitState.closed
    assert circuit.health()["recent_error_rate"] == 0.25


def test_permanent_errors_do_not_count_against_the_provider() -> None:
    circuit = breaker(FakeClock())
    for _ in range(5):
        with pytest.raises(ProviderBadRequest):
            circuit.call(Scripted(ProviderBadRequest("bad prompt")))

    assert circuit.state is CircuitState.closed
    assert circuit.health()["recent_error_rate"] == 0.0


def test_breakers_sharing_a_store_share_health() -> None:
    clock, store = FakeClock(), InMemoryCircuitStore()
    worker_a = CircuitBreaker("gemini", failure_threshold=2, clock=clock, store=store)
    worker_b = CircuitBreaker("gemini", failure_threshold=2, clock=clock, store=store)
    other_provider = CircuitBreaker("huggingface", failure_threshold=2, clock=clock, store=store)
    trip(worker_a, 2)

    with pytest.raises(CircuitOpen):
        worker_b.call(Scripted())
    assert other_provider.call(Scripted()) == "ok"


def test_retries_stop_at_an_open_circuit() -> None:
    clock = FakeClock()
    circuit = breaker(clock, failure_threshold=2)
    call = Scripted(*(ProviderUnavailable("down") for _ in range(5)))
    slept: list[float] = []

    with pytest.raises(CircuitOpen):
        call_with_retries(call, RetryPolicy(max_attempts=5, jitter=0.0), sleep=slept.append, breaker=circuit)

    assert call.calls == 2
    assert len(slept) == 2


def test_a_trial_that_crashed_on_our_side_frees_the_slot_for_the_next_caller() -> None:
    clock, circuit = opened()
    clock.advance(30.0)

    def our_bug() -> str:
        raise RuntimeError("bug in the caller")

    with pytest.raises(RuntimeError):
        circuit.call(our_bug)

    assert circuit.state is CircuitState.half_open
    assert circuit.call(Scripted(result="trial")) == "trial"
    assert circuit.state is CircuitState.closed


def test_a_trial_that_never_reports_back_is_presumed_lost_after_the_cool_down() -> None:
    clock, circuit = opened()
    clock.advance(30.0)
    circuit.before_call()  # a trial whose worker died before recording anything

    clock.advance(29.0)
    with pytest.raises(CircuitOpen):
        circuit.before_call()
    clock.advance(1.0)
    circuit.before_call()
    with pytest.raises(CircuitOpen):
        circuit.before_call()
