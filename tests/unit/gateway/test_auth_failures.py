"""Failed authentication is limited per client address: past the budget, 429 before any key is looked up."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import Embedded, reload_settings, use_settings

from gateway.app import create_app

API = "/api/image-studio"


def _get(app: object, key: str, *, address: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(f"{API}/credits", headers={"Authorization": f"Bearer {key}"})

    return asyncio.run(go())


def test_an_address_guessing_keys_is_refused_429_then_even_a_right_key_waits(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(
        monkeypatch, IMAGESTUDIO_MAX_AUTH_FAILURES_PER_MINUTE="3", IMAGESTUDIO_AUTH_CACHE_SECONDS="60"
    )
    reload_settings()
    app = create_app()
    known, unseen = embedded.new_key("known"), embedded.new_key("unseen")
    assert _get(app, known, address="203.0.113.7").status_code == 200  # seen valid: cached

    for attempt in range(3):
        refused = _get(app, f"isk_guess-{attempt}", address="203.0.113.7")
        assert refused.status_code == 401, refused.text
    over = _get(app, "isk_guess-3", address="203.0.113.7")
    assert over.status_code == 429, over.text
    assert over.headers["content-type"] == "application/problem+json"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["RateLimit-Policy"] == '"auth-failures";q=3;w=60'
    assert over.json()["violated-policies"] == ["auth-failures"]
    # A guess that happens to be right learns nothing either: not looked up.
    assert _get(app, unseen, address="203.0.113.7").status_code == 429
    # A key this process has just seen valid goes on working from that address.
    assert _get(app, known, address="203.0.113.7").status_code == 200
    # Another address has its own budget.
    assert _get(app, "isk_guess-x", address="198.51.100.9").status_code == 401
    assert _get(app, unseen, address="198.51.100.9").status_code == 200


def test_writes_count_failed_keys_before_reading_the_body(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_MAX_AUTH_FAILURES_PER_MINUTE", "1")
    reload_settings()
    headers = {"Authorization": "Bearer isk_guess"}
    first = embedded.client.post(f"{API}/personas", headers=headers, json={"name": "x"})
    assert first.status_code == 401
    second = embedded.client.post(f"{API}/personas", headers=headers, json={"name": "x"})
    assert second.status_code == 429, second.text
    assert "Retry-After" in second.headers
