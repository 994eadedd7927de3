"""Behaviour every provider client shares, checked against each provider's simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from provider_support import CASES, Env, in_process, open_image, png

from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagestudio.providers import EditRequest, GenerationRequest, RetryPolicy, call_with_retries
from imagestudio.providers.registry import models_for

#: Every case asks for a 16:9 image (by ratio or by width and height).
ASPECT = 16 / 9


def test_generation_returns_decodable_images_of_the_asked_shape(env: Env) -> None:
    request = env.case.request.model_copy(update={"count": 2})

    images = env.client.generate(request)

    assert len(images) == 2
    for image in images:
        decoded = open_image(image.data)
        assert decoded.size == (image.width, image.height)
        assert abs(image.width / image.height - ASPECT) < 0.1
        assert image.provider == env.case.name
        assert image.model == request.model
        assert image.content_type == f"image/{decoded.format.lower()}"  # type: ignore[union-attr]
    assert images[0].data != images[1].data
    if env.case.name != "gemini":  # Gemini takes no seed
        assert [image.seed for image in images] == [7, 8]


@pytest.mark.parametrize("name", ["stability", "wavespeed", "huggingface"])  # Gemini takes no seed
def test_same_seed_and_prompt_render_the_same_image(name: str) -> None:
    environment = in_process(CASES[name])
    try:
        first = environment.client.generate(CASES[name].request)[0]
        again = environment.client.generate(CASES[name].request)[0]
    finally:
        environment.client.close()

    assert first.data == again.data


def test_rate_limit_carries_the_retry_after_header(env: Env) -> None:
    env.sim.faults.push({"status": 429, "retry_after": 3})

    with pytest.raises(ProviderRateLimited) as caught:
        env.client.generate(env.case.request)

    assert caught.value.retry_after == 3.0
    assert caught.value.provider == env.case.name


def test_call_with_retries_succeeds_on_the_second_attempt_after_retry_after(env: Env) -> None:
    env.sim.faults.push({"status": 429, "retry_after": 1})
    slept: list[float] = []

    images = call_with_retries(
        lambda: env.client.generate(env.case.request), RetryPolicy(max_attempts=3), sleep=slept.append
    )

    assert len(images) == 1
    assert slept == [1.0]
    assert env.sim.calls.count(env.case.generate_path, method="POST") == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_provider_unavailable(env: Env, status: int) -> None:
    env.sim.faults.push({"status": status})

    with pytest.raises(ProviderUnavailable) as caught:
        env.client.generate(env.case.request)

    assert caught.value.retryable


def test_content_filter_is_provider_content_filtered(env: Env) -> None:
    env.sim.faults.push({"content_filter": True})

    with pytest.raises(ProviderContentFiltered) as caught:
        env.client.generate(env.case.request)

    assert not caught.value.retryable


BAD_REQUESTS: dict[str, tuple[Callable[[Env], Any], str]] = {
    "stability": (
        lambda env: env.client.edit(EditRequest(operation="erase", image=png(32, 32))),
        "each side must be between 64",
    ),
    "wavespeed": (
        lambda env: env.client.generate(env.case.request.model_copy(update={"seed": 3_000_000_000})),
        "seed must be an integer between -1 and 2147483647",
    ),
    "huggingface": (
        # An out-of-range guidance never leaves the client now; the router's own 422 is read.
        lambda env: (
            env.sim.faults.push({"status": 422, "message": "image_size: not supported by this model"}),
            env.client.generate(env.case.request),
        ),
        "image_size: not supported by this model",
    ),
    "gemini": (
        lambda env: (
            env.sim.faults.push({"status": 400, "message": "Request contains an invalid argument."}),
            env.client.generate(env.case.request),
        ),
        "Request contains an invalid argument.",
    ),
}


def test_bad_request_is_provider_bad_request_with_the_reason(env: Env) -> None:
    call, reason = BAD_REQUESTS[env.case.name]

    with pytest.raises(ProviderBadRequest) as caught:
        call(env)

    assert reason in caught.value.detail


@pytest.mark.parametrize("name", list(CASES))
def test_wrong_api_key_is_a_credentials_error(name: str) -> None:
    case = CASES[name]
    wrong = in_process(case, api_key="not-the-key")
    try:
        with pytest.raises(ProviderBadRequest, match="rejected the credentials/billing") as caught:
            wrong.client.generate(case.request)
    finally:
        wrong.client.close()
    assert not caught.value.retryable
    # Google answers a wrong key with 400 API_KEY_INVALID; the others with 401.
    assert f"({400 if name == 'gemini' else 401})" in caught.value.detail


def test_unknown_model_is_refused_before_any_call(env: Env) -> None:
    with pytest.raises(ProviderBadRequest, match="has no model"):
        env.client.generate(GenerationRequest(prompt="x", model="no-such-model"))
    assert env.sim.calls.count() == 0


def test_default_model_is_in_the_catalogue(env: Env) -> None:
    catalogue = models_for(env.client.name)
    assert env.client.default_model in {info.model for info in catalogue}
    assert catalogue and all(info.provider == env.case.name for info in catalogue)


# --- over a real loopback socket ----------------------------------------------------------


@pytest.mark.parametrize("loopback_env", list(CASES), indirect=True)
def test_generation_over_loopback_is_labelled_as_simulated(loopback_env: Env) -> None:
    images = loopback_env.client.generate(loopback_env.case.request)

    assert open_image(images[0].data).size == (images[0].width, images[0].height)
    answer = httpx.get(f"{loopback_env.client.base_url}/_simulator/calls")
    assert answer.headers["x-simulator"] == f"{loopback_env.case.name}-simulator"
    assert answer.json()["count"] >= 1


@pytest.mark.parametrize("loopback_env", list(CASES), indirect=True)
def test_answer_slower_than_the_timeout_is_provider_timeout(loopback_env: Env) -> None:
    case, sim = loopback_env.case, loopback_env.sim
    sim.faults.push({"delay": 1.0})
    impatient = case.client_class(api_key=sim.api_key, base_url=loopback_env.client.base_url, timeout=0.3)

    try:
        with pytest.raises(ProviderTimeout) as caught:
            impatient.generate(case.request)
    finally:
        impatient.close()

    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
