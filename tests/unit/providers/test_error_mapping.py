"""HTTP answers and transport failures map onto the ProviderError tree (httpx.MockTransport, no simulator)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from provider_support import google_error

from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderModelGone,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagestudio.providers import (
    GeminiClient,
    GenerationRequest,
    HuggingFaceClient,
    PendingResult,
    StabilityClient,
    WaveSpeedClient,
    parse_retry_after,
)
from imagestudio.providers.http import HttpProvider

CLIENTS: dict[str, type[HttpProvider]] = {
    "stability": StabilityClient,
    "wavespeed": WaveSpeedClient,
    "huggingface": HuggingFaceClient,
    "gemini": GeminiClient,
}


def _client(name: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return CLIENTS[name](api_key="key", transport=httpx.MockTransport(handler))


def _fail_with(name: str, response: httpx.Response) -> ProviderError:
    client = _client(name, lambda _: response)
    with pytest.raises(ProviderError) as caught:
        client.generate(GenerationRequest(prompt="p"))
    return caught.value


@pytest.mark.parametrize("name", list(CLIENTS))
@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "attributes"),
    [
        (400, {"errors": ["prompt: too long"]}, {}, ProviderBadRequest, {"detail": "prompt: too long"}),
        (
            422,
            {"error": "cannot render that size"},
            {},
            ProviderBadRequest,
            {"detail": "cannot render that size"},
        ),
        (
            401,
            {"error": "bad key"},
            {},
            ProviderBadRequest,
            {"detail": "rejected the credentials/billing (401)"},
        ),
        (
            402,
            {"message": "no credit"},
            {},
            ProviderBadRequest,
            {"detail": "rejected the credentials/billing (402)"},
        ),
        (429, {"message": "slow down"}, {"retry-after": "7"}, ProviderRateLimited, {"retry_after": 7.0}),
        (429, {"message": "slow down"}, {}, ProviderRateLimited, {"retry_after": None}),
        (500, {"message": "boom"}, {}, ProviderUnavailable, {"retry_after": None}),
        (503, {"message": "maintenance"}, {"retry-after": "5"}, ProviderUnavailable, {"retry_after": 5.0}),
        (504, "gateway timeout", {}, ProviderUnavailable, {}),
        (408, "request timeout", {}, ProviderTimeout, {}),
    ],
)
def test_status_maps_to_our_error(
    name: str,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[ProviderError],
    attributes: dict[str, Any],
) -> None:
    response = (
        httpx.Response(status, json=body, headers=headers)
        if isinstance(body, dict)
        else httpx.Response(status, text=body, headers=headers)
    )

    error = _fail_with(name, response)

    if name == "stability" and status == 429 and "retry-after" not in headers:
        # Stability's 429 without Retry-After is its 60 s key lockout (test_documented_refusals.py).
        attributes = {"retry_after": 60.0, "lockout_seconds": 60.0}
    assert type(error) is expected
    assert error.provider == name
    for attribute, value in attributes.items():
        if attribute == "detail":
            assert value in error.detail
        else:
            assert getattr(error, attribute) == value


@pytest.mark.parametrize("name", list(CLIENTS))
def test_connection_failure_is_unavailable_and_timeout_is_provider_timeout(name: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ProviderUnavailable, match="could not reach"):
        _client(name, refuse).generate(GenerationRequest(prompt="p"))
    with pytest.raises(ProviderTimeout):
        _client(name, stall).generate(GenerationRequest(prompt="p"))


@pytest.mark.parametrize("name", list(CLIENTS))
@pytest.mark.parametrize("status", [404, 410])
def test_a_model_call_answered_not_found_or_gone_is_model_gone_not_a_refusal(name: str, status: int) -> None:
    error = _fail_with(name, httpx.Response(status, json={"error": {"message": "model not found"}}))
    assert isinstance(error, ProviderModelGone) and not isinstance(error, ProviderBadRequest)
    assert not error.retryable and f"({status})" in error.detail


def test_a_poll_for_an_unknown_id_stays_a_bad_request() -> None:
    client = _client("wavespeed", lambda _: httpx.Response(404, json={"message": "prediction not found"}))
    with pytest.raises(ProviderBadRequest):
        client.poll(PendingResult(provider="wavespeed", model="qwen-image", remote_id="nope"))


def test_retry_after_as_an_http_date_becomes_seconds() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after(header, now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_429_with_an_http_date_carries_seconds_until_then() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    error = _fail_with(
        "stability", httpx.Response(429, json={}, headers={"retry-after": format_datetime(when, usegmt=True)})
    )

    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 100 < error.retry_after <= 120


def test_stability_403_is_always_content_moderation() -> None:
    error = _fail_with(
        "stability", httpx.Response(403, json={"name": "content_moderation", "errors": ["nope"]})
    )

    assert isinstance(error, ProviderContentFiltered)


def test_other_403s_are_credentials_unless_they_name_moderation() -> None:
    forbidden = _fail_with(
        "huggingface", httpx.Response(403, json={"error": "Access to model is restricted"})
    )
    moderated = _fail_with(
        "huggingface", httpx.Response(403, json={"error": "Blocked by content moderation"})
    )

    assert type(forbidden) is ProviderBadRequest and "credentials" in forbidden.detail
    assert isinstance(moderated, ProviderContentFiltered)


def test_gemini_invalid_key_reason_is_a_credentials_error() -> None:
    message = "API key not valid. Please pass a valid API key."
    reason = {"@type": "ErrorInfo", "reason": "API_KEY_INVALID"}
    body = google_error(400, message, "INVALID_ARGUMENT", reason)
    error = _fail_with("gemini", httpx.Response(400, json=body))

    assert isinstance(error, ProviderBadRequest)
    assert "rejected the credentials/billing" in error.detail


def test_gemini_responsible_ai_refusal_is_content_filtered() -> None:
    body = {"error": {"code": 400, "message": "The prompt violates Responsible AI practices.", "status": "X"}}

    assert isinstance(_fail_with("gemini", httpx.Response(400, json=body)), ProviderContentFiltered)


def test_gemini_candidate_without_an_image_for_safety_is_content_filtered() -> None:
    body = {"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}]}

    error = _fail_with("gemini", httpx.Response(200, json=body))

    assert isinstance(error, ProviderContentFiltered)
    assert "IMAGE_SAFETY" in error.detail


def test_huggingface_503_is_plain_unavailability_without_the_legacy_loading_estimate() -> None:
    """The official client dropped the cold-start path (``estimated_time``) in 2025; so do we."""
    body = {"error": "Model black-forest-labs/FLUX.1-dev is currently loading", "estimated_time": 42.5}

    error = _fail_with("huggingface", httpx.Response(503, json=body))

    assert isinstance(error, ProviderUnavailable)
    assert error.retry_after is None


def test_image_endpoint_answering_garbage_is_a_provider_error() -> None:
    error = _fail_with("stability", httpx.Response(200, content=b"not an image", headers={"seed": "1"}))

    assert type(error) is ProviderError
    assert "not a decodable image" in error.detail


def test_wavespeed_unreadable_reply_is_a_provider_error() -> None:
    client = _client("wavespeed", lambda _: httpx.Response(200, json={"unexpected": True}))

    with pytest.raises(ProviderError, match="cannot read"):
        client.poll(PendingResult(provider="wavespeed", model="qwen-image", remote_id="x"))


def test_wavespeed_refuses_to_fetch_non_http_outputs() -> None:
    data = {"id": "x", "status": "completed", "outputs": ["file:///etc/passwd"]}
    client = _client("wavespeed", lambda _: httpx.Response(200, json={"code": 200, "data": data}))

    with pytest.raises(ProviderError, match="will not fetch"):
        client.poll(PendingResult(provider="wavespeed", model="qwen-image", remote_id="x"))


def test_every_call_carries_an_explicit_timeout() -> None:
    timeouts: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(500)

    client = StabilityClient(api_key="k", timeout=12.5, transport=httpx.MockTransport(handler))
    with pytest.raises(ProviderUnavailable):
        client.generate(GenerationRequest(prompt="p"))

    assert timeouts[0]["read"] == 12.5
    assert timeouts[0]["connect"] == 10.0


def test_client_requires_an_api_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        StabilityClient(api_key="")
