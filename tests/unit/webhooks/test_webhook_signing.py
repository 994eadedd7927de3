"""Signing (through the standardwebhooks library), the retry schedule, and the payload budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from support import Embedded
from webhook_api import submit

from imagestudio.assets.service import asset_service
from imagestudio.db import session_scope
from imagestudio.jobs.schemas import JobOutput
from imagestudio.webhooks.models import WebhookDelivery
from imagestudio.webhooks.sending import MAX_PAYLOAD_BYTES, event_body
from imagestudio.webhooks.signing import new_secret, signed_headers
from imagestudio.webhooks.staging import RETRY_JITTER, retry_delay

SPEC_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


def test_every_secret_of_a_rotation_verifies_the_same_delivery() -> None:
    old, new = new_secret(), new_secret()
    body = json.dumps({"type": "job.succeeded", "data": {"id": "j"}})
    headers = signed_headers([new, old], msg_id="msg_1", timestamp=datetime.now(UTC), body=body)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["data"]["id"] == "j"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace('"j"', '"k"'), headers)


def test_a_stale_timestamp_is_refused_by_the_verifier() -> None:
    secret = new_secret()
    headers = signed_headers(
        [secret], msg_id="msg_1", timestamp=datetime.now(UTC) - timedelta(minutes=10), body="{}"
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify("{}", headers)


def test_default_schedule_is_the_spec_one_and_spans_about_three_days(embedded: Embedded) -> None:
    from imagestudio.config import get_settings

    schedule = get_settings().webhook_retry_schedule_seconds
    assert schedule == SPEC_SCHEDULE
    assert timedelta(hours=75) < timedelta(seconds=sum(schedule)) < timedelta(hours=76)
    assert get_settings().webhook_max_message_delay_seconds < 30 * 60


def test_retry_delay_jitters_within_bounds_honours_retry_after_and_ends() -> None:
    for step, base in enumerate(SPEC_SCHEDULE):
        delay = retry_delay(step, schedule=SPEC_SCHEDULE)
        assert delay is not None and base * (1 - RETRY_JITTER) <= delay <= base * (1 + RETRY_JITTER)
    assert retry_delay(len(SPEC_SCHEDULE), schedule=SPEC_SCHEDULE) is None
    assert retry_delay(1, schedule=SPEC_SCHEDULE, retry_after=120) == 120
    assert retry_delay(1, schedule=SPEC_SCHEDULE, retry_after=10**9) == 24 * 3600
    assert len({retry_delay(3, schedule=SPEC_SCHEDULE) for _ in range(20)}) > 1


def test_payload_stays_under_20_kb_with_many_outputs(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = embedded.new_key()
    job = submit(embedded, key)
    many = [
        JobOutput(
            id=str(i),
            name=f"platform.format-{i}",
            kind="image",
            format="jpeg",
            content_type="image/jpeg",
            width=1080,
            height=1920,
            bytes=10,
            url="https://s3.example.com/" + "x" * 400,
            expires_at=datetime.now(UTC),
        )
        for i in range(200)
    ]
    monkeypatch.setattr(asset_service, "outputs_for_jobs", lambda session, job_ids: {job_ids[0]: many})
    with session_scope() as session:
        delivery = WebhookDelivery(
            id="msg_x",
            tenant_id="t",
            job_id=job["id"],
            url="http://x",
            event_type="job.succeeded",
            payload={
                "type": "job.succeeded",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"id": job["id"], "outputs": []},
            },
        )
        body = event_body(session, delivery)
    assert len(body.encode()) <= MAX_PAYLOAD_BYTES
    data = json.loads(body)["data"]
    assert data["outputs_truncated"] is True and 10 < len(data["outputs"]) < 200
    assert data["outputs"][0]["url"].startswith("https://") and data["outputs"][0]["expires_at"]
