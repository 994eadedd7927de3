"""One small social job through the gateway, for the telemetry tests that follow a job's metrics and spans."""

from __future__ import annotations

from support import Embedded, make_image

API = "/api/image-studio"


def submit(embedded: Embedded, key: str) -> str:
    """``POST /social/optimize`` of one square format with a 320x240 PNG; the job's id."""
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data={"formats": "instagram.feed_square"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])
