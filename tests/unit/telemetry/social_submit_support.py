"""One small social job through the gateway, for the telemetry tests that follow a job's metrics and spans."""

from __future__ import annotations

from support import Embedded, accepted_id, make_image, post_social


def submit(embedded: Embedded, key: str) -> str:
    """``POST /social/optimize`` of one square format with a 320x240 PNG; the job's id."""
    image = ("a.png", make_image(320, 240), "image/png")
    return accepted_id(post_social(embedded, key, image, formats="instagram.feed_square"))
