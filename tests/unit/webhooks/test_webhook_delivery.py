"""Delivering webhooks from the embedded stack to a receiver on loopback.

Signed per Standard Webhooks (verified with the library's own verifier), retried on the
configured schedule with one stable webhook-id, logged, redeliverable, and disabling an
endpoint that keeps failing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from support import Embedded, use_settings, wait_for
from webhook_api import API, auth, deliveries, register, submit, use_webhook_settings, wait_delivery
from webhook_receiver import Receiver, Trickler

from imagestudio.db import session_scope, utcnow
from imagestudio.jobs.service import job_service
from imagestudio.outbox import OutboxMessage
from imagestudio.webhooks.models import WebhookDelivery
from imagestudio.webhooks.sending import MAX_PAYLOAD_BYTES
from imagestudio.webhooks.service import webhook_service


def drain_webhooks(stack: Embedded) -> None:
    """Every webhook message handled, including any a wrong implementation would still send."""
    stack.drain("webhooks")


def test_receiver_gets_signed_events_verified_by_the_library(hooks: Embedded, receiver: Receiver) -> None:
    key = hooks.new_key()
    endpoint = register(hooks, key, receiver.url)
    hooks.start_worker()
    job = submit(hooks, key)
    # Each event is its own delivery: under load job.running may land after job.succeeded.
    expected = {"job.queued", "job.running", "job.succeeded"}
    wait_for(lambda: {r.json["type"] for r in receiver.requests} >= expected, what="the three webhooks")
    drain_webhooks(hooks)
    assert {r.json["type"] for r in receiver.requests} == expected
    for request in receiver.requests:
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload["data"]["id"] == job["id"] and payload["data"]["studio"] == "social"
        assert request.headers["webhook-id"].startswith("msg_") and "." not in request.headers["webhook-id"]
        assert len(request.body) < MAX_PAYLOAD_BYTES
    (done,) = receiver.of_type("job.succeeded")
    data = done.json["data"]
    assert data["status"] == "succeeded" and data["error"] is None and data["outputs"]
    assert data["links"]["self"].endswith(f"/api/image-studio/jobs/{job['id']}")
    output = data["outputs"][0]
    assert set(output) >= {"name", "url", "expires_at", "content_type"}
    assert hooks.client.get(output["url"]).status_code == 200  # a link, never the image bytes
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(done.body, done.headers)


def test_three_500s_then_200_is_received_four_times_with_one_webhook_id(hooks: Embedded) -> None:
    key = hooks.new_key()
    with Receiver([500, 500, 500, 200]) as receiver:
        endpoint = register(hooks, key, receiver.url, event_types=["job.succeeded"])
        hooks.start_worker()
        job = submit(hooks, key)
        delivery = wait_delivery(hooks, key, "succeeded", job_id=job["id"])
        drain_webhooks(hooks)
        assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]  # nothing after the 200
        assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}
        assert all(Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.requests)
        assert delivery["attempts"] == 4 and delivery["next_attempt_at"] is None
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
        assert all(a["latency_ms"] >= 0 for a in delivery["attempt_log"])
        assert delivery["attempt_log"][0]["error"] == "HTTP 500"

        redelivered = hooks.client.post(
            f"{API}/webhooks/deliveries/{delivery['id']}/redeliver", headers=auth(key)
        )
        assert redelivered.status_code == 202 and redelivered.json()["status"] == "pending"
        wait_for(lambda: len(receiver.requests) == 5, what="the redelivery")
        again = wait_delivery(hooks, key, "succeeded", job_id=job["id"])
        assert receiver.requests[-1].headers["webhook-id"] == delivery["id"] and again["attempts"] == 5


def test_a_job_webhook_url_is_signed_with_the_tenant_secret_and_filtered(
    hooks: Embedded, receiver: Receiver
) -> None:
    key = hooks.new_key()
    secret = hooks.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()["secret"]
    hooks.start_worker()
    job = submit(hooks, key, webhook_url=receiver.url, webhook_events="job.succeeded,job.failed")
    wait_delivery(hooks, key, "succeeded", job_id=job["id"])
    drain_webhooks(hooks)
    (request,) = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "job.succeeded"
    (logged,) = deliveries(hooks, key, job_id=job["id"])
    assert logged["endpoint_id"] is None and logged["url"] == receiver.url


def test_canceled_and_failed_jobs_are_announced_with_the_error(hooks: Embedded, receiver: Receiver) -> None:
    key = hooks.new_key()
    register(hooks, key, receiver.url, event_types=["job.canceled", "job.failed"])
    canceled = submit(hooks, key)
    failed = submit(hooks, key)
    assert hooks.client.post(f"{API}/jobs/{canceled['id']}/cancel", headers=auth(key)).status_code == 200
    problem = {
        "type": "https://imagestudio.dev/problems/job-failed",
        "title": "Job failed",
        "status": 422,
        "detail": "x",
    }
    with session_scope() as session:
        assert job_service.fail(session, job_id=failed["id"], problem=problem)
    hooks.start_worker()
    wait_for(lambda: len(receiver.requests) == 2, what="two webhooks")
    by_type = {r.json["type"]: r.json["data"] for r in receiver.requests}
    assert by_type["job.canceled"]["id"] == canceled["id"] and by_type["job.canceled"]["error"] is None
    assert by_type["job.failed"]["id"] == failed["id"] and by_type["job.failed"]["error"] == problem
    assert by_type["job.failed"]["finished_at"]


def test_rolled_back_transition_stages_no_delivery(hooks: Embedded) -> None:
    key = hooks.new_key()
    register(hooks, key, "http://127.0.0.1:9/hook")
    job = submit(hooks, key)
    with session_scope() as session:
        before = len(session.scalars(select(OutboxMessage)).all())
    with session_scope() as session:
        job_service.fail(session, job_id=job["id"], problem={"detail": "never"})
        assert session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "job.failed")
        ).all()
        session.rollback()
    with session_scope() as session:
        assert not session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "job.failed")
        ).all()
        assert len(session.scalars(select(OutboxMessage)).all()) == before


def test_endpoint_failing_every_retry_is_disabled_with_a_visible_reason(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_webhook_settings(monkeypatch, disable_after_failed_deliveries="2", retry_schedule_seconds="[0, 0.01]")
    key = hooks.new_key()
    with Receiver(default=500) as receiver:
        endpoint = register(hooks, key, receiver.url, event_types=["job.queued"])
        first, second = submit(hooks, key), submit(hooks, key)
        hooks.start_worker()
        for job in (first, second):
            failed = wait_delivery(hooks, key, "failed", job_id=job["id"])
            assert failed["attempts"] == 2 and failed["last_status_code"] == 500
        url = f"{API}/webhooks/endpoints/{endpoint['id']}"
        shown = hooks.client.get(url, headers=auth(key)).json()
        assert shown["enabled"] is False and "2 deliveries in a row failed" in shown["disabled_reason"]
        third = submit(hooks, key)
        assert deliveries(hooks, key, job_id=third["id"]) == []  # a disabled endpoint gets nothing new
        refused = hooks.client.post(f"{API}/webhooks/deliveries/{failed['id']}/redeliver", headers=auth(key))
        assert refused.status_code == 409
        enabled = hooks.client.patch(url, headers=auth(key), json={"enabled": True}).json()
        assert (
            enabled["enabled"] is True
            and enabled["disabled_reason"] is None
            and enabled["failed_deliveries"] == 0
        )


def test_410_gone_disables_the_endpoint_at_once(hooks: Embedded) -> None:
    key = hooks.new_key()
    with Receiver(default=410) as receiver:
        endpoint = register(hooks, key, receiver.url, event_types=["job.queued"])
        job = submit(hooks, key)
        hooks.start_worker()
        failed = wait_delivery(hooks, key, "failed", job_id=job["id"])
        assert failed["attempts"] == 1 and len(receiver.requests) == 1
        shown = hooks.client.get(f"{API}/webhooks/endpoints/{endpoint['id']}", headers=auth(key)).json()
        assert shown["enabled"] is False and "410" in shown["disabled_reason"]


def test_redirects_are_not_followed(hooks: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS="[0]")
    key = hooks.new_key()
    with Receiver(default=302, headers={302: {"location": "/elsewhere"}}) as receiver:
        register(hooks, key, receiver.url, event_types=["job.queued"])
        job = submit(hooks, key)
        hooks.start_worker()
        failed = wait_delivery(hooks, key, "failed", job_id=job["id"])
        drain_webhooks(hooks)
        assert [r.path for r in receiver.requests] == ["/hook"]
        assert failed["last_status_code"] == 302 and "not followed" in failed["last_error"]


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_webhook_settings(monkeypatch, retry_schedule_seconds="[0]", timeout_seconds="0.2")
    key = hooks.new_key()
    with Receiver() as receiver:
        receiver.hold.clear()  # the receiver never answers until the test lets it
        register(hooks, key, receiver.url, event_types=["job.queued"])
        job = submit(hooks, key)
        hooks.start_worker()
        failed = wait_delivery(hooks, key, "failed", job_id=job["id"])
        assert failed["last_status_code"] is None and failed["last_error"].startswith("timeout")
        receiver.hold.set()


def test_a_trickling_receiver_is_cut_off_at_the_attempt_deadline_and_the_delivery_ends_failed(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS", "[0, 0.01, 0.01]")
    monkeypatch.setenv("IMAGESTUDIO_WEBHOOK_TIMEOUT_SECONDS", "5")  # each byte comes well within it
    use_settings(monkeypatch, IMAGESTUDIO_WEBHOOK_ATTEMPT_DEADLINE_SECONDS="1")
    key = hooks.new_key()
    with Trickler(interval=0.2) as trickler:
        register(hooks, key, trickler.url, event_types=["job.queued"])
        job = submit(hooks, key)
        hooks.start_worker()
        failed = wait_delivery(hooks, key, "failed", job_id=job["id"])
        shown = hooks.client.get(f"{API}/webhooks/deliveries/{failed['id']}", headers=auth(key)).json()
    assert failed["attempts"] == 3 and trickler.connections == 3
    assert [a["number"] for a in shown["attempt_log"]] == [1, 2, 3]
    for attempt in shown["attempt_log"]:
        assert attempt["status_code"] is None and attempt["error"].startswith("timeout"), attempt
        assert 900 <= attempt["latency_ms"] <= 1000 + 1500, attempt  # the deadline, plus slack


def test_a_long_wait_rides_capped_messages_and_sends_only_when_due(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two hours between attempts, but no message may wait longer than 50 ms (the consumer-timeout rule).
    use_settings(
        monkeypatch,
        IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS="[0, 7200]",
        IMAGESTUDIO_WEBHOOK_MAX_MESSAGE_DELAY_SECONDS="0.05",
    )
    key = hooks.new_key()
    with Receiver([500, 200]) as receiver:
        register(hooks, key, receiver.url, event_types=["job.queued"])
        job = submit(hooks, key)
        hooks.start_worker()
        waiting = wait_for(
            lambda: (
                (d := deliveries(hooks, key, job_id=job["id"]))[0]["attempts"] == 1
                and d[0]["next_attempt_at"]
                and d[0]
            ),
            what="the first attempt",
        )

        def restaged() -> list[OutboxMessage]:
            with session_scope() as session:
                rows = session.scalars(
                    select(OutboxMessage).where(OutboxMessage.actor_name == "webhooks.deliver")
                ).all()
                return [r for r in rows if r.kwargs["delivery_id"] == waiting["id"] and r.options.get("eta")]

        rows = wait_for(
            lambda: len(r := restaged()) >= 4 and r, what="the wait to be re-staged several times"
        )
        for row in rows:
            assert row.queue_name == "webhooks.DQ"
            assert row.options["eta"] / 1000 - row.created_at.timestamp() <= 0.05 + 0.01
        assert len(receiver.requests) == 1  # two hours have not passed: nothing sent early
        with session_scope() as session:  # ... now they have
            session.get_one(WebhookDelivery, waiting["id"]).next_attempt_at = utcnow() - timedelta(seconds=1)
        done = wait_delivery(hooks, key, "succeeded", job_id=job["id"])
        assert done["attempts"] == 2 and [r.answered for r in receiver.requests] == [500, 200]


def test_stale_and_duplicate_messages_never_send_twice(hooks: Embedded, receiver: Receiver) -> None:
    key = hooks.new_key()
    register(hooks, key, receiver.url, event_types=["job.queued"])
    job = submit(hooks, key)
    (pending,) = deliveries(hooks, key, job_id=job["id"])
    with session_scope() as session:
        token = session.get_one(WebhookDelivery, pending["id"]).token
    webhook_service.delivery.deliver(delivery_id=pending["id"], token="stale")
    assert receiver.requests == []
    webhook_service.delivery.deliver(delivery_id=pending["id"], token=token)
    webhook_service.delivery.deliver(delivery_id=pending["id"], token=token)  # the outbox republished it
    hooks.start_worker()
    drain_webhooks(hooks)
    assert len(receiver.requests) == 1
    assert deliveries(hooks, key, job_id=job["id"])[0]["status"] == "succeeded"


def test_sweeper_restages_a_delivery_whose_message_was_lost(hooks: Embedded, receiver: Receiver) -> None:
    key = hooks.new_key()
    register(hooks, key, receiver.url, event_types=["job.queued"])
    job = submit(hooks, key)
    (pending,) = deliveries(hooks, key, job_id=job["id"])
    hooks.broker.flush_all()  # the broker lost every message
    with session_scope() as session:
        session.get_one(WebhookDelivery, pending["id"]).next_attempt_at = utcnow() - timedelta(hours=1)
    with session_scope() as session:
        assert webhook_service.staging.requeue_pending(session) == 1
    hooks.start_worker()
    wait_delivery(hooks, key, "succeeded", job_id=job["id"])
    assert len(receiver.requests) == 1


def test_delivery_log_filters_by_job_and_endpoint_and_hides_other_tenants(
    hooks: Embedded, receiver: Receiver
) -> None:
    alice, bob = hooks.new_key("alice"), hooks.new_key("bob")
    one = register(hooks, alice, receiver.url, event_types=["job.queued"])
    two = register(hooks, alice, receiver.url, event_types=["job.queued", "job.canceled"])
    job = submit(hooks, alice)
    hooks.client.post(f"{API}/jobs/{job['id']}/cancel", headers=auth(alice))
    assert len(deliveries(hooks, alice, job_id=job["id"])) == 3
    assert {d["event_type"] for d in deliveries(hooks, alice, endpoint_id=two["id"])} == {
        "job.queued",
        "job.canceled",
    }
    assert [d["endpoint_id"] for d in deliveries(hooks, alice, endpoint_id=one["id"])] == [one["id"]]
    page = hooks.client.get(f"{API}/webhooks/deliveries", headers=auth(alice), params={"limit": 2}).json()
    rest = hooks.client.get(
        f"{API}/webhooks/deliveries", headers=auth(alice), params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    some = page["items"][0]["id"]
    assert deliveries(hooks, bob) == [] and deliveries(hooks, bob, job_id=job["id"]) == []
    assert hooks.client.get(f"{API}/webhooks/deliveries/{some}", headers=auth(bob)).status_code == 404
    assert (
        hooks.client.post(f"{API}/webhooks/deliveries/{some}/redeliver", headers=auth(bob)).status_code == 404
    )
    assert hooks.client.get(f"{API}/webhooks/deliveries/{some}", headers=auth(alice)).status_code == 200
