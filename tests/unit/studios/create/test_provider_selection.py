"""Auto selection, the quality table, retries with Retry-After, the shared circuit breaker and re-scheduling."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from create_support import CreateStack
from create_support import batch_spec as spec
from support import use_settings, wait_for

from imagestudio.errors import ValidationFailed
from imagestudio.providers.execution import BatchSpec, ProviderExecutor
from imagestudio.providers.health import DatabaseCircuitStore, breaker_for, circuit_key, provider_health
from imagestudio.providers.registry import QUALITY_TABLE, find_model
from imagestudio.providers.resilience import CircuitHealth
from imagestudio.providers.selection import plan


def order(**kwargs: Any) -> list[tuple[str, str]]:
    return [(c.provider, c.model) for c in plan(**kwargs)]


def health(state: str = "closed", calls: int = 0, rate: float = 0.0) -> CircuitHealth:
    return {
        "state": state,
        "recent_error_rate": rate,
        "opened_at": None,
        "consecutive_failures": 0,
        "recent_calls": calls,
    }


def test_quality_table_names_catalogued_generate_models() -> None:
    for row in QUALITY_TABLE.values():
        for provider, choice in row.items():
            info = find_model(provider, choice.model)
            assert info is not None and info.kind == "generate", (provider, choice)


def test_auto_ranks_by_quality_level_then_cost() -> None:
    assert order(quality="standard", ratio=1.0) == [
        ("stability", "core"),  # 3 credits, the registry's first standard choice
        ("huggingface", "black-forest-labs/FLUX.1-dev"),  # 3 credits
        ("gemini", "gemini-3.1-flash-image"),  # 6.7 credits
        ("wavespeed", "qwen-image"),  # a draft model: one level off
    ]
    assert order(quality="premium", ratio=1.0)[:3] == [
        ("wavespeed", "ideogram-v3-turbo"),  # 6
        ("stability", "ultra"),  # 8
        ("gemini", "gemini-3-pro-image"),  # 13.4
    ]
    assert order(quality="draft", ratio=1.0)[0] == ("huggingface", "black-forest-labs/FLUX.1-schnell")


def test_template_suggestion_outranks_cost_within_a_quality_level() -> None:
    assert order(quality="premium", ratio=1.0, suggested=("stability",))[0] == ("stability", "ultra")


def test_unhealthy_providers_go_last() -> None:
    ranked = order(quality="premium", ratio=1.0, health={"wavespeed": health("open")})
    assert ranked[-1][0] == "wavespeed"
    ranked = order(quality="premium", ratio=1.0, health={"wavespeed": health(calls=4, rate=0.75)})
    assert ranked[0][0] == "stability" and ranked[-1][0] == "wavespeed"
    # A failing provider still outranks one whose circuit is open.
    ranked = order(
        quality="premium", ratio=1.0, health={"wavespeed": health("open"), "gemini": health(calls=3, rate=1)}
    )
    assert [p for p, _ in ranked[-2:]] == ["gemini", "wavespeed"]


def test_capability_fit_picks_a_model_that_can_make_the_aspect() -> None:
    # 5.91:1: only the size-based models can; WaveSpeed falls back from Ideogram to Qwen.
    assert sorted(order(quality="premium", ratio=1128 / 191)) == [
        ("huggingface", "black-forest-labs/FLUX.1-dev"),
        ("wavespeed", "qwen-image"),
    ]
    [only] = plan(quality="standard", ratio=1200 / 630, provider="stability")
    assert (only.provider_aspect_ratio, round(only.crop, 3)) == ("16:9", 0.067)


def test_explicit_choices_are_honoured_or_refused() -> None:
    assert order(quality="premium", ratio=1.0, provider="gemini") == [("gemini", "gemini-3-pro-image")]
    assert order(quality="draft", ratio=1.0, model="sd3.5-large") == [("stability", "sd3.5-large")]
    with pytest.raises(ValidationFailed) as refused:
        plan(quality="standard", ratio=4.0, provider="gemini")
    assert refused.value.field == "aspect_ratio"
    with pytest.raises(ValidationFailed) as refused:
        plan(quality="standard", ratio=1.0, provider="gemini", available=["stability"])
    assert refused.value.field == "provider"


def test_auto_keeps_to_allowed_and_available_providers() -> None:
    assert {p for p, _ in order(quality="standard", ratio=1.0, allowed={"gemini", "huggingface"})} == {
        "gemini",
        "huggingface",
    }
    assert order(quality="standard", ratio=1.0, available=["wavespeed"]) == [("wavespeed", "qwen-image")]


# --- execution against the simulators ---------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.images: dict[int, str] = {}
        self.messages: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_images(self, variations: list[int], images: list[Any], call: Any) -> None:
        for variation in variations:
            self.images[variation] = call.candidate.provider


def run(stack: CreateStack, batch: BatchSpec, count: int = 1) -> tuple[Recorder, Any]:
    recorder = Recorder()
    executor = ProviderExecutor(sleep=recorder.sleep)
    try:
        report = executor.run_batch(
            batch, variations=range(count), on_images=recorder.on_images, checkpoint=recorder.messages.append
        )
    finally:
        executor.close()
    return recorder, report


def test_retry_after_is_honoured_and_backoff_grows(create_stack: CreateStack) -> None:
    create_stack.sims["gemini"].faults.push(
        {"status": 429, "retry_after": 0.5}, {"status": 503}, {"status": 503}
    )
    recorder, report = run(create_stack, spec("gemini"))
    assert report.fallbacks and not recorder.images  # three attempts spent
    create_stack.sims["gemini"].faults.clear()
    assert recorder.sleeps[0] == 0.5  # the provider's Retry-After
    assert 0.016 <= recorder.sleeps[1] <= 0.024  # 0.01 * 2, +/- 20% jitter


def test_a_long_retry_after_is_not_slept_in_the_worker(create_stack: CreateStack) -> None:
    create_stack.sims["huggingface"].faults.push({"status": 429, "retry_after": 30})
    batch = spec("auto", available=["huggingface", "gemini"])
    recorder, report = run(create_stack, batch)
    assert recorder.sleeps == [] and report.retry_after == 30
    assert recorder.images == {0: batch.candidates[1].provider}  # the next provider served it


def test_open_circuit_is_skipped_without_a_call_and_closes_after_a_trial(
    create_stack: CreateStack, monkeypatch: pytest.MonkeyPatch
) -> None:

    use_settings(
        monkeypatch, IMAGESTUDIO_CIRCUIT_FAILURE_THRESHOLD="2", IMAGESTUDIO_CIRCUIT_COOLDOWN_SECONDS="0.3"
    )
    stability = create_stack.sims["stability"]
    stability.faults.push({"status": 500}, {"status": 500})
    run(create_stack, spec("stability"))
    assert provider_health()["stability"][0]["state"] == "open"
    calls = stability.calls.count("/generate/")
    _, report = run(create_stack, spec("stability"))
    assert stability.calls.count("/generate/") == calls  # refused at once, no call
    assert "circuit is open" in report.fallbacks[0]["reason"]
    wait_for(lambda: provider_health()["stability"][0]["state"] == "half_open", what="the cool-down")
    recorder, _ = run(create_stack, spec("stability"))
    assert recorder.images == {0: "stability"}
    assert provider_health()["stability"][0]["state"] == "closed"


def test_database_store_is_one_view_for_every_breaker(create_stack: CreateStack) -> None:
    first, second = DatabaseCircuitStore(), DatabaseCircuitStore()  # as two processes would
    breaker = breaker_for("gemini", store=first)
    for _ in range(5):
        breaker.record_failure()
    assert breaker_for("gemini", store=second).state.value == "open"
    second.mark_simulated(circuit_key("gemini"), True)
    assert first.all()[circuit_key("gemini")][1] is True
    breaker_for("gemini", store=second).reset()
    assert breaker.state.value == "closed"


def test_job_is_rescheduled_when_every_provider_asks_for_a_long_wait(create_stack: CreateStack) -> None:
    hf = create_stack.sims["huggingface"]
    hf.faults.push({"status": 429, "retry_after": 1.5})  # above the 1 s a worker thread may wait
    job = create_stack.run({"prompt": "a lighthouse", "provider": "huggingface"})
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert hf.calls.count("/fal-ai/") == 2


def test_a_model_past_its_shutdown_is_never_planned() -> None:
    """The clock decides: the day before Imagen 4's shutdown it is planned, from that day on refused."""
    before, shutdown = date(2026, 8, 16), date(2026, 8, 17)
    [kept] = plan(quality="standard", ratio=1.0, model="imagen-4.0-generate-001", today=before)
    assert kept.model == "imagen-4.0-generate-001"
    with pytest.raises(ValidationFailed) as refused:
        plan(quality="standard", ratio=1.0, model="imagen-4.0-generate-001", today=shutdown)
    assert refused.value.field == "model" and "2026-08-17" in refused.value.detail
    for day in (shutdown, date(2026, 12, 7)):
        for quality in ("draft", "standard", "premium"):
            planned = {c.model for c in plan(quality=quality, ratio=1.0, today=day)}
            assert not any(model.startswith("imagen") for model in planned), (day, quality)
    september = date(2026, 9, 1)  # Gemini 2.5 Flash Image was served until 2026-10-02
    assert order(quality="standard", ratio=1.0, model="gemini-2.5-flash-image", today=september)
    with pytest.raises(ValidationFailed):
        plan(quality="standard", ratio=1.0, model="gemini-2.5-flash-image")
