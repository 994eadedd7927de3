"""One tenant's webhooks cannot fill the webhook workers: per-job URLs that keep failing are
disabled, deliveries in flight are capped per tenant, and redelivery is rate-limited."""

from __future__ import annotations

import pytest
from support import Embedded, use_settings, wait_for
from webhook_api import API, auth, deliveries, submit, use_webhook_settings, wait_delivery
from webhook_receiver import Receiver


def targets(stack: Embedded, key: str) -> list[dict[str, object]]:
    response = stack.client.get(f"{API}/webhooks/targets", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_a_per_job_url_failing_attempts_in_a_row_is_disabled_and_the_tenant_sees_why(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_webhook_settings(
        monkeypatch, disable_target_after_failed_attempts="3", retry_schedule_seconds="[0, 0.01]"
    )
    key = hooks.new_key()
    with Receiver(default=500) as receiver:
        hooks.start_worker()
        first = submit(hooks, key, webhook_url=receiver.url, webhook_events="job.queued")
        assert wait_delivery(hooks, key, "failed", job_id=first["id"])["attempts"] == 2
        second = submit(hooks, key, webhook_url=receiver.url, webhook_events="job.queued")
        stopped = wait_delivery(hooks, key, "failed", job_id=second["id"])
        # Its first attempt was the third failure in a row: the second is never made.
        assert stopped["attempts"] == 2 and len(receiver.requests) == 3
        assert "disabled" in stopped["last_error"] and "3 attempts in a row failed" in stopped["last_error"]
        third = submit(hooks, key, webhook_url=receiver.url, webhook_events="job.queued")
        skipped = wait_delivery(hooks, key, "failed", job_id=third["id"])
        assert len(receiver.requests) == 3  # recorded failed without a request
        assert skipped["attempt_log"] == [] and "PATCH /webhooks/targets/" in skipped["last_error"]

        (target,) = targets(hooks, key)
        assert target["url"] == receiver.url and target["enabled"] is False
        assert "HTTP 500" in str(target["disabled_reason"]) and target["failed_attempts"] == 3
        refused = hooks.client.post(f"{API}/webhooks/deliveries/{skipped['id']}/redeliver", headers=auth(key))
        assert refused.status_code == 409 and "disabled" in refused.json()["detail"]

        other = hooks.new_key("other")  # another tenant's same URL is its own target
        assert targets(hooks, other) == []
        assert (
            hooks.client.patch(
                f"{API}/webhooks/targets/{target['id']}", headers=auth(other), json={"enabled": True}
            ).status_code
            == 404
        )
        enabled = hooks.client.patch(
            f"{API}/webhooks/targets/{target['id']}", headers=auth(key), json={"enabled": True}
        ).json()
        assert (
            enabled["enabled"] is True
            and enabled["failed_attempts"] == 0
            and enabled["disabled_reason"] is None
        )
        again = hooks.client.post(f"{API}/webhooks/deliveries/{skipped['id']}/redeliver", headers=auth(key))
        assert again.status_code == 202, again.text
        wait_for(lambda: len(receiver.requests) == 4, what="the re-enabled URL to be tried again")


def test_a_success_resets_the_count_and_timeouts_disable_a_black_hole(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_webhook_settings(
        monkeypatch,
        disable_target_after_failed_attempts="2",
        retry_schedule_seconds="[0]",
        timeout_seconds="0.2",
    )
    key = hooks.new_key()
    hooks.start_worker()
    with Receiver([500, 200, 500]) as flaky:  # failure, success, failure: never two in a row
        for _ in range(3):
            job = submit(hooks, key, webhook_url=flaky.url, webhook_events="job.queued")
            wait_for(lambda job_id=job["id"]: deliveries(hooks, key, job_id=job_id)[0]["status"] != "pending")
        assert len(flaky.requests) == 3
        assert [t["enabled"] for t in targets(hooks, key)] == [True]
    with Receiver() as black_hole:
        black_hole.hold.clear()  # accepts, never answers
        for _ in range(2):
            job = submit(hooks, key, webhook_url=black_hole.url, webhook_events="job.queued")
            timed_out = wait_delivery(hooks, key, "failed", job_id=job["id"])
            assert timed_out["last_error"].startswith("timeout")
        disabled = [t for t in targets(hooks, key) if t["url"] == black_hole.url]
        assert disabled[0]["enabled"] is False and "timeout" in str(disabled[0]["disabled_reason"])
        black_hole.hold.set()


def test_one_tenants_black_hole_deliveries_leave_room_for_another_tenants(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(
        monkeypatch,
        IMAGESTUDIO_WEBHOOK_TENANT_MAX_IN_FLIGHT="1",
        IMAGESTUDIO_TENANT_DEFER_SECONDS="0.1",
        IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS="[0]",
        IMAGESTUDIO_WEBHOOK_TIMEOUT_SECONDS="20",
    )
    flooder, other = hooks.new_key("flooder"), hooks.new_key("other")
    with Receiver() as black_hole, Receiver() as receiver:
        black_hole.hold.clear()
        flood = [
            submit(hooks, flooder, webhook_url=black_hole.url, webhook_events="job.queued") for _ in range(4)
        ]
        job = submit(hooks, other, webhook_url=receiver.url, webhook_events="job.queued")
        hooks.start_worker(threads=2)
        delivered = wait_delivery(hooks, other, "succeeded", job_id=job["id"])
        assert delivered["attempts"] == 1
        # Delivered while the flooder's first attempt still hangs: it held one thread, not both.
        waiting = [deliveries(hooks, flooder, job_id=j["id"])[0] for j in flood]
        assert all(d["status"] == "pending" and d["last_error"] is None for d in waiting), waiting
        assert sum(d["attempts"] for d in waiting) == 1
        black_hole.hold.set()


def test_redeliver_is_rate_limited_per_tenant(hooks: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, IMAGESTUDIO_WEBHOOK_REDELIVERIES_PER_MINUTE="2")
    key, other = hooks.new_key(), hooks.new_key("other")
    with Receiver() as receiver:
        job = submit(hooks, key, webhook_url=receiver.url, webhook_events="job.queued")
        (delivery,) = deliveries(hooks, key, job_id=job["id"])  # pending: no worker runs
        url = f"{API}/webhooks/deliveries/{delivery['id']}/redeliver"
        assert [hooks.client.post(url, headers=auth(key)).status_code for _ in range(2)] == [202, 202]
        limited = hooks.client.post(url, headers=auth(key))
        assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) > 0
        assert "webhook redeliveries" in limited.json()["detail"]
        # Another tenant has its own allowance (its request is refused for the delivery, not the rate).
        assert hooks.client.post(url, headers=auth(other)).status_code == 404
