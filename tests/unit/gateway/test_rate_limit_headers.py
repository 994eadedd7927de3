"""A request counted against a rate carries the RateLimit fields on a refusal too, not only on success."""

from __future__ import annotations

from support import Embedded

from imagestudio.db import session_scope
from imagestudio.tenants.service import tenant_service

API = "/api/image-studio"


def _keyed(embedded: Embedded, *, limit: int) -> dict[str, str]:
    key = embedded.new_key()
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        tenant_service.set_limits(session, tenant_id=tenant_id, requests_per_minute=limit)
    return {"Authorization": f"Bearer {key}"}


def test_a_refused_write_carries_its_ratelimit_fields(embedded: Embedded) -> None:
    headers = _keyed(embedded, limit=5)
    invalid = embedded.client.post(f"{API}/personas", headers=headers, json={"name": ""})
    assert invalid.status_code == 422, invalid.text
    assert invalid.headers["RateLimit-Policy"] == '"writes";q=5;w=60'
    assert invalid.headers["RateLimit"].startswith('"writes";r=4;')
    missing = embedded.client.delete(f"{API}/personas/per_nothing", headers=headers)
    assert missing.status_code == 404, missing.text
    assert missing.headers["RateLimit"].startswith('"writes";r=3;')
    bad_json = embedded.client.post(
        f"{API}/personas", headers={**headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert bad_json.status_code == 422, bad_json.text
    assert bad_json.headers["RateLimit"].startswith('"writes";r=2;')


def test_a_refused_submission_carries_its_ratelimit_fields(embedded: Embedded) -> None:
    headers = _keyed(embedded, limit=3)
    refused = embedded.client.post(
        f"{API}/social/optimize", headers=headers, json={"upload_id": "upl_nothing", "platforms": ["nowhere"]}
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["RateLimit-Policy"] == '"submissions";q=3;w=60'
    assert refused.headers["RateLimit"].startswith('"submissions";r=2;')


def test_a_request_no_rate_counted_carries_no_ratelimit_fields(embedded: Embedded) -> None:
    unauthenticated = embedded.client.post(f"{API}/personas", json={"name": "x"})
    assert unauthenticated.status_code == 401
    assert "RateLimit" not in unauthenticated.headers
