"""Webhooks on real services: a webhooks worker process delivers over RabbitMQ's delay queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from support import make_image, wait_for
from unit.webhooks.webhook_receiver import Receiver

from integration.conftest import Services, Stack

pytestmark = pytest.mark.integration

API = "/api/image-studio"


@pytest.fixture
def loopback(services: Services) -> Iterator[None]:
    """Every process of the next stack may call loopback receivers, on a sub-second schedule."""
    extra = {
        "IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK": "true",
        "IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[0, 0.2, 0.2, 0.2, 0.2]",
    }
    services.env.update(extra)
    yield
    for name in extra:
        services.env.pop(name, None)


def delivery_for(stack: Stack, job_id: str) -> dict[str, Any] | None:
    items = httpx.get(
        f"{stack.base_url}{API}/webhooks/deliveries",
        headers=stack.headers(),
        params={"job_id": job_id},
        timeout=10,
    ).json()["items"]
    return items[0] if items else None


def test_webhooks_worker_retries_with_one_webhook_id_then_stops(loopback: None, stack: Stack) -> None:
    with Receiver([500, 500, 500, 200]) as receiver:
        created = httpx.post(
            f"{stack.base_url}{API}/webhooks/endpoints",
            headers=stack.headers(),
            json={"url": receiver.url, "event_types": ["job.succeeded"]},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        stack.worker()
        hooks = stack.worker("webhooks")
        job = httpx.post(
            f"{stack.base_url}{API}/social/optimize",
            headers=stack.headers(),
            files={"image": ("a.jpg", make_image(640, 480, "JPEG"), "image/jpeg")},
            data={"formats": "instagram.feed_square"},
            timeout=30,
        ).json()

        def succeeded() -> dict[str, Any] | None:
            found = delivery_for(stack, job["id"])
            return found if found and found["status"] == "succeeded" else None

        delivery = wait_for(succeeded, timeout=120, interval=0.2, what="the delivery to succeed")
        assert [r.answered for r in receiver.requests] == [500, 500, 500, 200], hooks.output()
        assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}
        for request in receiver.requests:
            payload = Webhook(secret).verify(request.body, request.headers)
            assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job["id"]
            assert payload["data"]["outputs"][0]["url"].startswith("http://127.0.0.1:")
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]

        redelivered = httpx.post(
            f"{stack.base_url}{API}/webhooks/deliveries/{delivery['id']}/redeliver",
            headers=stack.headers(),
            timeout=10,
        )
        assert redelivered.status_code == 202
        wait_for(lambda: len(receiver.requests) == 5, timeout=60, interval=0.2, what="the redelivery")
        assert receiver.requests[-1].headers["webhook-id"] == delivery["id"]
        again = wait_for(
            lambda: (
                (d := delivery_for(stack, job["id"]))
                and d["status"] == "succeeded"
                and d["attempts"] == 5
                and d
            ),
            timeout=60,
            interval=0.2,
            what="the redelivery to be logged",
        )
        assert again["attempt_log"][-1]["status_code"] == 200
