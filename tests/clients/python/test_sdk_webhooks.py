"""``webhooks.verify``: a delivery signed as the service signs it verifies with its secret, and only with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from imagestudio.webhooks.signing import new_secret, signed_headers
from imagestudio_client import WebhookEvent, WebhookVerificationError, webhooks


def _delivery(secret: str, *, sent_at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "type": "job.succeeded",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {"id": "job-1", "status": "succeeded", "studio": "social", "outputs": []},
        }
    )
    headers = signed_headers([secret], msg_id="msg_1", timestamp=sent_at or datetime.now(UTC), body=body)
    return body.encode(), {k.title(): v for k, v in headers.items()}  # as a web framework hands them over


def test_a_webhook_verifies_with_the_right_secret() -> None:
    secret = new_secret()
    payload, headers = _delivery(secret)
    event = webhooks.verify(payload, headers, secret)
    assert isinstance(event, WebhookEvent)
    assert event.type == "job.succeeded" and event.data.id == "job-1"


def test_a_webhook_is_refused_with_a_wrong_secret_a_tampered_body_or_an_old_timestamp() -> None:
    secret = new_secret()
    payload, headers = _delivery(secret)
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(payload, headers, new_secret())
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(payload.replace(b"job-1", b"job-2"), headers, secret)
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(payload, headers, "not-a-secret")
    old_payload, old_headers = _delivery(secret, sent_at=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(old_payload, old_headers, secret)
