"""API keys and tenant limits on the request path: cached a few seconds, revoked and overridden
through the CLI, and no database lookup per request for a key already seen."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from support import Embedded, make_image, post_social, sql_statements, use_settings, wait_for
from typer.testing import CliRunner, Result

from imagestudio.cli import app
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope, utcnow
from imagestudio.errors import Unauthorized
from imagestudio.tenants.models import ApiKey
from imagestudio.tenants.service import tenant_service

API = "/api/image-studio"
runner = CliRunner()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tenant_of(key: str) -> str:
    with session_scope() as session:
        return tenant_service.authenticate(session, key=key).tenant_id


def said(result: Result) -> str:
    """The command's output on one line (rich wraps long lines)."""
    return " ".join(result.output.split())


def post(stack: Embedded, key: str) -> httpx.Response:
    """A small social submission as a form."""
    return post_social(
        stack, key, ("a.png", make_image(48, 48), "image/png"), formats="instagram.feed_square"
    )


def submit(stack: Embedded, key: str) -> int:
    return post(stack, key).status_code


def test_a_key_seen_valid_is_authenticated_without_a_query(embedded: Embedded) -> None:
    key = embedded.new_key(tier="basic")
    with sql_statements() as first, session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        limits = tier_service.limits_of(session, tenant_id=tenant_id)
    assert any("api_keys" in s for s in first) and any("FROM tenants" in s for s in first)
    with sql_statements() as again, session_scope() as session:
        principal = tenant_service.authenticate(session, key=key)
        limits_again = tier_service.limits_of(session, tenant_id=tenant_id)
    assert again == []
    assert principal.tenant_id == tenant_id
    assert principal.limits.requests_per_minute == limits.requests_per_minute == 60  # basic tier
    assert limits_again is limits


def test_a_second_submission_looks_up_neither_the_key_nor_the_rate(embedded: Embedded) -> None:
    key = embedded.new_key()
    assert submit(embedded, key) == 202
    with sql_statements() as second:
        assert submit(embedded, key) == 202
    assert second, "the submission itself still writes its job"
    assert [s for s in second if "api_keys" in s] == []


def test_an_unknown_key_is_refused_and_not_remembered_as_valid(embedded: Embedded) -> None:
    response = embedded.client.get(f"{API}/credits", headers=auth("isk_not-a-real-key"))
    assert response.status_code == 401
    with session_scope() as session, pytest.raises(Unauthorized):
        tenant_service.authenticate(session, key="isk_not-a-real-key")


def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, IMAGESTUDIO_AUTH_CACHE_SECONDS="1")
    key = embedded.new_key()
    assert embedded.client.get(f"{API}/credits", headers=auth(key)).status_code == 200
    with session_scope() as session:  # as another process would: no cache of ours is told
        session.execute(update(ApiKey).values(revoked_at=utcnow()))
    assert embedded.client.get(f"{API}/credits", headers=auth(key)).status_code == 200  # still cached
    wait_for(
        lambda: embedded.client.get(f"{API}/credits", headers=auth(key)).status_code == 401,
        timeout=10,
        interval=0.1,
        what="the revoked key to be refused",
    )


def test_keys_revoke_by_prefix_refuses_the_key_at_once(embedded: Embedded) -> None:
    key, other = embedded.new_key("a"), embedded.new_key("b")
    for k in (key, other):
        assert embedded.client.get(f"{API}/credits", headers=auth(k)).status_code == 200  # cached now
    result = runner.invoke(app, ["keys", "revoke", key[:12]])
    assert result.exit_code == 0, result.output
    assert "revoked" in said(result)
    # This process cleared its cache: no wait for the 5-second default.
    assert embedded.client.get(f"{API}/credits", headers=auth(key)).status_code == 401
    assert embedded.client.get(f"{API}/credits", headers=auth(other)).status_code == 200
    with session_scope() as session:
        row = session.query(ApiKey).filter(ApiKey.prefix == key[:12]).one()
        assert row.revoked_at is not None


def test_keys_revoke_by_id_and_an_unknown_key_is_an_error(embedded: Embedded) -> None:
    key = embedded.new_key()
    with session_scope() as session:
        key_id = tenant_service.authenticate(session, key=key).key_id
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert embedded.client.get(f"{API}/credits", headers=auth(key)).status_code == 401
    unknown = runner.invoke(app, ["keys", "revoke", "isk_nosuchkey"])
    assert unknown.exit_code != 0
    assert "No API key" in said(unknown)


def test_set_limits_overrides_the_tier_rate_at_once_and_clear_restores_it(embedded: Embedded) -> None:
    key = embedded.new_key(tier="pro")  # 300 a minute, 20 at once
    tenant_id = tenant_of(key)
    assert submit(embedded, key) == 202  # the key and its limits are cached now

    result = runner.invoke(
        app, ["tenants", "set-limits", tenant_id, "--requests-per-minute", "3", "--max-concurrent-jobs", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "3 requests/minute (tier: 300)" in said(result)
    assert "7 concurrent jobs (tier: 20)" in said(result)
    with session_scope() as session:
        limits = tier_service.limits_of(session, tenant_id=tenant_id)
    assert (limits.requests_per_minute, limits.max_concurrent_jobs) == (3, 7)

    codes = [submit(embedded, key) for _ in range(3)]
    assert codes == [202, 202, 429]  # the first submission counted too: 3 in the minute
    refused = post(embedded, key)
    assert refused.headers["RateLimit-Policy"] == '"submissions";q=3;w=60'

    only_rate = runner.invoke(app, ["tenants", "set-limits", tenant_id, "--requests-per-minute", "1000"])
    assert "1000 requests/minute" in said(only_rate) and "7 concurrent jobs" in said(only_rate)
    cleared = runner.invoke(app, ["tenants", "set-limits", tenant_id, "--clear"])
    assert cleared.exit_code == 0, cleared.output
    assert "300 requests/minute (tier: 300)" in said(cleared) and "20 concurrent jobs (tier: 20)" in said(
        cleared
    )
    with session_scope() as session:
        limits = tier_service.limits_of(session, tenant_id=tenant_id)
    assert (limits.requests_per_minute, limits.max_concurrent_jobs) == (300, 20)


def test_set_limits_needs_an_option_or_clear_and_an_existing_tenant(embedded: Embedded) -> None:
    tenant_id = tenant_of(embedded.new_key())
    assert runner.invoke(app, ["tenants", "set-limits", tenant_id]).exit_code != 0
    both = runner.invoke(app, ["tenants", "set-limits", tenant_id, "--clear", "--requests-per-minute", "5"])
    assert both.exit_code != 0
    assert (
        runner.invoke(app, ["tenants", "set-limits", tenant_id, "--requests-per-minute", "0"]).exit_code != 0
    )
    missing = runner.invoke(app, ["tenants", "set-limits", "no-such-tenant", "--requests-per-minute", "5"])
    assert missing.exit_code != 0 and "No such tenant" in said(missing)
