"""A model the vendor no longer serves (404 model not found, 410 Gone) is a routing failure, not a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from create_support import CreateStack, spec

from imagestudio.providers.execution import ProviderExecutor
from imagestudio.providers.health import report_model_served, unavailable_models
from imagestudio.telemetry.metrics import PROVIDER_MODEL_GONE

BODY = {"prompt": "a lighthouse", "count": 2}


def first_choice(stack: CreateStack, body: dict[str, Any]) -> tuple[str, str]:
    """(provider, model) the planner puts first for ``body`` now."""
    estimate = stack.embedded.client.post(
        "/api/image-studio/estimate-cost", json={"studio": "create", "params": body}, headers=stack.headers()
    ).json()
    item = estimate["breakdown"][0]
    return item["provider"], item["model"]


def retire(stack: CreateStack, provider: str, model: str, status: int) -> str:
    """Make the simulator answer every generation call of ``model`` the way the vendor does once it is gone."""
    from imagestudio.providers.huggingface import HF_MODELS
    from imagestudio.providers.wavespeed import WAVESPEED_MODELS

    path = {
        "gemini": f"/models/{model}:",
        "huggingface": HF_MODELS[model].provider_model if model in HF_MODELS else "/fal-ai/",
        "wavespeed": WAVESPEED_MODELS[model].path if model in WAVESPEED_MODELS else "/api/v3/",
        "stability": "/generate/",
    }[provider]
    stack.sims[provider].harness.retire(path, status=status, message=f"model not found: {model}")
    return path


def gauge(provider: str, model: str) -> float:
    """This process's ``imagestudio_provider_model_gone`` for the model."""
    return PROVIDER_MODEL_GONE.labels(provider, model)._value.get()  # type: ignore[attr-defined,no-any-return]


def call_once(provider: str, model: str) -> list[int]:
    """One image from exactly ``model`` through the engine (as a plan offers it once its mark lapses,
    or an edit or upscale route calls it); the variations delivered."""
    delivered: list[int] = []
    executor = ProviderExecutor()
    try:
        executor.run_batch(
            spec(provider, model=model),
            variations=[0],
            on_images=lambda variations, *_: delivered.extend(variations),
            checkpoint=lambda _: None,
        )
    finally:
        executor.close()
    return delivered


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_model_falls_back_to_the_next_candidate_and_is_marked_unavailable(
    create_stack: CreateStack, status: int
) -> None:
    provider, model = first_choice(create_stack, BODY)
    retire(create_stack, provider, model, status)

    job = create_stack.run(BODY)

    assert job["status"] == "succeeded", job
    assert len(job["outputs"]) == 2
    [fallback] = job["params"]["results"]["fallbacks"]
    assert (fallback["provider"], fallback["model"]) == (provider, model)
    assert f"({status})" in fallback["reason"]
    assert all(output["metadata"]["provider"] != provider for output in job["outputs"])
    # Marked unavailable in provider health: the next plan leaves the model out ...
    later = create_stack.submit(BODY)
    assert (provider, model) not in {(c["provider"], c["model"]) for c in later["params"]["candidates"]}
    # ... and asking for it by name is refused naming the field, before anything is charged.
    refused = create_stack.post({**BODY, "provider": provider, "model": model})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "model" and "no longer serves" in refused.json()["detail"]


def test_a_gone_model_served_again_lowers_its_gauge_and_is_planned_again_after_one_successful_call(
    create_stack: CreateStack,
) -> None:
    provider, model = first_choice(create_stack, BODY)
    path = retire(create_stack, provider, model, 410)
    assert create_stack.run(BODY)["status"] == "succeeded"  # by the next candidate
    assert gauge(provider, model) == 1 and (provider, model) in unavailable_models()

    create_stack.sims[provider].harness.restore(path)  # the vendor serves it again
    assert call_once(provider, model) == [0]

    assert gauge(provider, model) == 0
    assert (provider, model) not in unavailable_models()
    assert first_choice(create_stack, BODY) == (provider, model)
    assert not report_model_served(provider, model)  # once lowered, later successes change nothing


def test_an_explicit_model_that_is_gone_fails_the_job_once_without_retries(create_stack: CreateStack) -> None:
    provider, model = first_choice(create_stack, {**BODY, "provider": "wavespeed"})
    retire(create_stack, provider, model, 410)

    job = create_stack.run({**BODY, "provider": "wavespeed"})

    assert job["status"] == "failed" and job["attempts"] == 1, job
    assert job["error"]["type"].endswith("/provider-model-gone")


def test_a_moderation_refusal_still_stops_the_batch(create_stack: CreateStack) -> None:
    provider, _ = first_choice(create_stack, BODY)
    create_stack.sims[provider].faults.push({"content_filter": True})

    job = create_stack.run(BODY)

    assert job["status"] == "failed" and job["attempts"] == 1, job
    assert job["error"]["type"].endswith("/content-filtered")
    assert job["params"]["results"]["fallbacks"] == []
