"""Small calls into the webhook and job API shared by the webhook tests."""

from __future__ import annotations

from typing import Any

import pytest
from support import Embedded, make_image, use_settings, wait_for

API = "/api/image-studio"


def use_webhook_settings(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    """``use_settings`` for webhook settings named without their ``IMAGESTUDIO_WEBHOOK_`` prefix
    (``retry_schedule_seconds="[0]"``)."""
    use_settings(
        monkeypatch, **{f"IMAGESTUDIO_WEBHOOK_{name.upper()}": value for name, value in settings.items()}
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def register(stack: Embedded, key: str, url: str, **body: Any) -> dict[str, Any]:
    response = stack.client.post(f"{API}/webhooks/endpoints", headers=auth(key), json={"url": url, **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def submit(stack: Embedded, key: str, headers: dict[str, str] | None = None, **form: str) -> dict[str, Any]:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers={**auth(key), **(headers or {})},
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data={"formats": "instagram.feed_square", **form},
    )
    assert response.status_code in (200, 202), response.text
    return response.json()  # type: ignore[no-any-return]


def deliveries(stack: Embedded, key: str, **params: str) -> list[dict[str, Any]]:
    response = stack.client.get(f"{API}/webhooks/deliveries", headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def wait_delivery(stack: Embedded, key: str, status: str, **params: str) -> dict[str, Any]:
    """The only delivery matching ``params`` once it reaches ``status``."""

    def reached() -> dict[str, Any] | None:
        items = deliveries(stack, key, **params)
        return items[0] if len(items) == 1 and items[0]["status"] == status else None

    return wait_for(reached, timeout=60, what=f"a {status} delivery for {params}")  # type: ignore[no-any-return]
