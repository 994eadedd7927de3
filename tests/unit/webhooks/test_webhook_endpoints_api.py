"""Tenant webhook endpoints: create (secret shown once), list, update, rotate, delete; isolation."""

from __future__ import annotations

from support import Embedded
from webhook_api import API, auth, register

from imagestudio.webhooks.signing import SECRET_PREFIX


def test_endpoint_lifecycle_shows_the_secret_only_on_create_and_rotate(hooks: Embedded) -> None:
    key = hooks.new_key()
    created = register(
        hooks, key, "http://127.0.0.1:9/hook", description="orders", event_types=["job.succeeded"]
    )
    assert created["secret"].startswith(SECRET_PREFIX) and created["enabled"] is True
    assert created["event_types"] == ["job.succeeded"]
    assert created["secret_hint"] == created["secret"][:10] + "…"
    url = f"{API}/webhooks/endpoints/{created['id']}"
    listed = hooks.client.get(f"{API}/webhooks/endpoints", headers=auth(key)).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    assert "secret" not in hooks.client.get(url, headers=auth(key)).json()

    patched = hooks.client.patch(url, headers=auth(key), json={"event_types": [], "description": "all"})
    assert (
        patched.status_code == 200 and patched.json()["event_types"] == [] and "secret" not in patched.json()
    )

    rotated = hooks.client.post(f"{url}/rotate-secret", headers=auth(key), json={"grace_seconds": 3600})
    assert rotated.status_code == 200
    assert (
        rotated.json()["secret"].startswith(SECRET_PREFIX) and rotated.json()["secret"] != created["secret"]
    )
    assert rotated.json()["previous_secret_expires_at"]

    assert hooks.client.delete(url, headers=auth(key)).status_code == 204
    assert hooks.client.get(url, headers=auth(key)).status_code == 404


def test_another_tenants_endpoints_and_deliveries_are_404(hooks: Embedded) -> None:
    alice, bob = hooks.new_key("alice"), hooks.new_key("bob")
    endpoint = register(hooks, alice, "http://127.0.0.1:9/hook")
    url = f"{API}/webhooks/endpoints/{endpoint['id']}"
    assert hooks.client.get(url, headers=auth(bob)).status_code == 404
    assert hooks.client.patch(url, headers=auth(bob), json={"enabled": False}).status_code == 404
    assert hooks.client.post(f"{url}/rotate-secret", headers=auth(bob)).status_code == 404
    assert hooks.client.delete(url, headers=auth(bob)).status_code == 404
    assert hooks.client.get(f"{API}/webhooks/endpoints", headers=auth(bob)).json()["items"] == []
    by_endpoint = hooks.client.get(
        f"{API}/webhooks/deliveries", headers=auth(bob), params={"endpoint_id": endpoint["id"]}
    )
    assert by_endpoint.status_code == 404
    assert hooks.client.get(url, headers=auth(alice)).json()["enabled"] is True


def test_updating_to_a_private_url_or_unknown_event_is_refused_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    bad_scheme = embedded.client.post(
        f"{API}/webhooks/endpoints", headers=auth(key), json={"url": "file:///etc/passwd"}
    )
    assert bad_scheme.status_code == 422 and bad_scheme.json()["field"] == "url"
    unknown = embedded.client.post(
        f"{API}/webhooks/endpoints",
        headers=auth(key),
        json={"url": "http://93.184.216.34/hook", "event_types": ["job.exploded"]},
    )
    assert unknown.status_code == 422 and unknown.json()["field"].startswith("event_types")
    created = embedded.client.post(
        f"{API}/webhooks/endpoints", headers=auth(key), json={"url": "http://93.184.216.34/hook"}
    )
    assert created.status_code == 201
    moved = embedded.client.patch(
        f"{API}/webhooks/endpoints/{created.json()['id']}",
        headers=auth(key),
        json={"url": "http://10.1.2.3/"},
    )
    assert moved.status_code == 422 and moved.json()["field"] == "url"


def test_per_job_webhook_url_is_checked_at_submission(embedded: Embedded) -> None:
    key = embedded.new_key()
    common = {"headers": auth(key), "files": {"image": ("a.png", b"not checked first", "image/png")}}
    private = embedded.client.post(
        f"{API}/social/optimize",
        data={"formats": "instagram.feed_square", "webhook_url": "http://169.254.169.254/"},
        **common,  # type: ignore[arg-type]
    )
    assert private.status_code == 422 and private.json()["field"] == "webhook_url"
    unknown = embedded.client.post(
        f"{API}/social/optimize",
        data={
            "formats": "instagram.feed_square",
            "webhook_url": "http://93.184.216.34/",
            "webhook_events": "job.done",
        },
        **common,  # type: ignore[arg-type]
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "webhook_events"
    orphan = embedded.client.post(
        f"{API}/social/optimize",
        data={"formats": "instagram.feed_square", "webhook_events": "job.failed"},
        **common,  # type: ignore[arg-type]
    )
    assert orphan.status_code == 422 and orphan.json()["field"] == "webhook_events"


def test_default_secret_is_shown_once_and_stable_until_rotated(embedded: Embedded) -> None:
    key = embedded.new_key()
    first = embedded.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    assert first["secret"].startswith(SECRET_PREFIX) and first["secret_hint"] == first["secret"][:10] + "…"
    again = embedded.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    assert again == {**first, "secret": None}  # the same secret, masked from now on
    rotated = embedded.client.post(
        f"{API}/webhooks/default/secret/rotate", headers=auth(key), json={"grace_seconds": 0}
    ).json()
    assert rotated["secret"] != first["secret"] and rotated["previous_secret_expires_at"] is None
    after = embedded.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    assert after["secret"] is None and after["secret_hint"] == rotated["secret_hint"]
    other = embedded.client.get(f"{API}/webhooks/default/secret", headers=auth(embedded.new_key("b"))).json()
    assert other["secret"] not in (first["secret"], rotated["secret"])
