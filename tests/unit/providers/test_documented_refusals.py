"""Every documented refusal and status, as each vendor's simulator sends it: Gemini's image finish
reasons, WaveSpeed's envelope errors and extra statuses, Stability's 60 s lockout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_support import CASES, Env, in_process, serving

from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderWorkFailed,
)
from imagestudio.providers import GenerationRequest
from simulators import GeminiSimulator, StabilitySimulator, WaveSpeedSimulator


@pytest.fixture
def gemini() -> Iterator[Env]:
    yield from serving(CASES["gemini"], sim=GeminiSimulator())


@pytest.fixture
def wavespeed() -> Iterator[Env]:
    yield from serving(CASES["wavespeed"], sim=WaveSpeedSimulator(in_progress_polls=0))


FLASH_IMAGE = GenerationRequest(prompt="a lighthouse", model="gemini-3.1-flash-image")


@pytest.mark.parametrize("reason", ["IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER"])
def test_gemini_image_finish_reasons_are_a_refusal_reported_as_filtered(gemini: Env, reason: str) -> None:
    gemini.sim.faults.push({"finish_reason": reason})
    with pytest.raises(ProviderContentFiltered, match=reason):
        gemini.client.generate(FLASH_IMAGE)


def test_gemini_no_image_is_no_output_not_a_refusal(gemini: Env) -> None:
    gemini.sim.faults.push({"finish_reason": "NO_IMAGE"})
    with pytest.raises(ProviderError, match="NO_IMAGE") as caught:
        gemini.client.generate(FLASH_IMAGE)
    assert not isinstance(caught.value, ProviderContentFiltered | ProviderBadRequest)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(500, ProviderUnavailable), (429, ProviderRateLimited), (400, ProviderBadRequest)],
)
def test_wavespeed_error_in_the_envelope_of_a_200_is_read(
    wavespeed: Env, code: int, expected: type[ProviderError]
) -> None:
    wavespeed.sim.faults.push({"status": code, "envelope": True, "message": "simulated envelope error"})
    with pytest.raises(expected, match=f"code {code}: simulated envelope error"):
        wavespeed.client.submit_generate(GenerationRequest(prompt="harbour", model="qwen-image"))


def test_wavespeed_envelope_error_while_polling_is_read(wavespeed: Env) -> None:
    [pending] = wavespeed.client.submit_generate(GenerationRequest(prompt="harbour", model="qwen-image"))
    wavespeed.sim.faults.push({"status": 503, "envelope": True, "message": "busy"})
    with pytest.raises(ProviderUnavailable, match="code 503: busy"):
        wavespeed.client.poll(pending)
    assert wavespeed.client.poll(pending)  # the prediction itself is fine


@pytest.mark.parametrize("status", ["cancelled", "timeout"])
def test_wavespeed_cancelled_and_timeout_predictions_are_work_that_failed(
    wavespeed: Env, status: str
) -> None:
    wavespeed.sim.faults.push({"end_status": status})
    [pending] = wavespeed.client.submit_generate(GenerationRequest(prompt="harbour", model="qwen-image"))
    with pytest.raises(ProviderWorkFailed, match=f"ended {status}"):
        wavespeed.client.poll(pending)


def test_stability_lockout_is_a_60_s_rate_limit_without_retry_after() -> None:
    environment = in_process(CASES["stability"], sim=StabilitySimulator(rate_limit=2))
    try:
        request = CASES["stability"].request
        environment.client.generate(request)
        environment.client.generate(request)
        with pytest.raises(ProviderRateLimited) as caught:
            environment.client.generate(request)  # the third in 10 s: locked out
        assert caught.value.retry_after == caught.value.lockout_seconds == 60
        with pytest.raises(ProviderRateLimited):
            environment.client.generate(request)  # still inside the lockout
    finally:
        environment.client.close()
