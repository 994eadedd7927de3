"""Webhook signing secrets sealed at rest with Fernet: no plaintext in the database, key rotation,
legacy plain values sealed by migration 0009, and secrets shown only when created or rotated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlalchemy import text
from standardwebhooks import Webhook
from support import Embedded
from typer.testing import CliRunner
from webhook_api import API, auth, register

from imagestudio.config import Settings, get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.errors import SecretUnreadable
from imagestudio.secrets_at_rest import SEALED_PREFIX
from imagestudio.webhooks.signing import signed_headers


def stored(table: str, key: str, value: str) -> tuple[str, str | None]:
    """The raw ``secret`` and ``previous_secret`` column values, as the database holds them."""
    with session_scope() as session:
        row = session.execute(
            text(f"SELECT secret, previous_secret FROM {table} WHERE {key} = :value"), {"value": value}
        ).one()
    return row[0], row[1]


def endpoint_secrets(endpoint_id: str) -> list[str]:
    """The secrets a delivery to the endpoint signs with, as the sender reads them."""
    from imagestudio.webhooks.endpoints import active_secrets
    from imagestudio.webhooks.models import WebhookEndpoint

    with session_scope() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return active_secrets(endpoint, utcnow())


def use_keys(monkeypatch: pytest.MonkeyPatch, *keys: bytes) -> None:
    monkeypatch.setenv("IMAGESTUDIO_SECRETS_KEYS", ",".join(k.decode() for k in keys))
    get_settings.cache_clear()  # settings only: the engine and store stay the fixture's


def test_the_database_holds_no_plaintext_secret(hooks: Embedded) -> None:
    key = hooks.new_key()
    created = register(hooks, key, "http://127.0.0.1:9/hook")
    rotated = hooks.client.post(
        f"{API}/webhooks/endpoints/{created['id']}/rotate-secret", headers=auth(key), json={}
    ).json()
    secret, previous = stored("webhook_endpoints", "id", created["id"])
    assert secret.startswith(SEALED_PREFIX) and previous is not None and previous.startswith(SEALED_PREFIX)
    for shown in (created["secret"], rotated["secret"]):
        body = shown.removeprefix("whsec_")
        assert body not in secret and body not in previous
    default = hooks.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    from imagestudio.tenants.service import tenant_service

    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
    raw, _ = stored("webhook_signing_secrets", "tenant_id", tenant_id)
    assert raw.startswith(SEALED_PREFIX) and default["secret"].removeprefix("whsec_") not in raw


def test_deliveries_verify_with_the_secret_shown_at_creation(hooks: Embedded) -> None:
    key = hooks.new_key()
    created = register(hooks, key, "http://127.0.0.1:9/hook")
    body = '{"type": "job.succeeded"}'
    headers = signed_headers(endpoint_secrets(created["id"]), msg_id="msg_1", timestamp=utcnow(), body=body)
    assert Webhook(created["secret"]).verify(body, headers) == {"type": "job.succeeded"}


def test_a_second_key_still_opens_old_values_and_rotate_reseals_them(
    hooks: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.cli import app

    old, new = Fernet.generate_key(), Fernet.generate_key()
    use_keys(monkeypatch, old)
    key = hooks.new_key()
    created = register(hooks, key, "http://127.0.0.1:9/hook")
    sealed_with_old, _ = stored("webhook_endpoints", "id", created["id"])

    use_keys(monkeypatch, new, old)  # the new key seals, the old one still opens
    assert endpoint_secrets(created["id"]) == [created["secret"]]
    listed = hooks.client.get(f"{API}/webhooks/endpoints", headers=auth(key)).json()["items"]
    assert listed[0]["secret_hint"] == created["secret_hint"]

    result = CliRunner().invoke(app, ["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    sealed_with_new, _ = stored("webhook_endpoints", "id", created["id"])
    assert sealed_with_new != sealed_with_old

    use_keys(monkeypatch, new)  # the old key retired: everything still opens
    assert endpoint_secrets(created["id"]) == [created["secret"]]
    use_keys(monkeypatch, old)  # and a process left with the retired key alone cannot read it
    with pytest.raises(SecretUnreadable):
        endpoint_secrets(created["id"])


def test_the_secret_is_not_readable_after_creation(hooks: Embedded) -> None:
    key = hooks.new_key()
    created = register(hooks, key, "http://127.0.0.1:9/hook")
    endpoint = hooks.client.get(f"{API}/webhooks/endpoints/{created['id']}", headers=auth(key)).json()
    listed = hooks.client.get(f"{API}/webhooks/endpoints", headers=auth(key)).text
    assert "secret" not in endpoint and created["secret"] not in listed
    first = hooks.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    second = hooks.client.get(f"{API}/webhooks/default/secret", headers=auth(key)).json()
    assert first["secret"] and second["secret"] is None


def test_migration_0009_seals_legacy_plain_secrets(embedded: Embedded) -> None:
    from alembic import command

    from imagestudio.migrate import alembic_config

    tenant_key = embedded.new_key()
    from imagestudio.tenants.service import tenant_service

    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=tenant_key).tenant_id
    command.downgrade(alembic_config(), "0008")
    plain, previous = "whsec_" + "A" * 43 + "=", "whsec_" + "B" * 43 + "="
    now = utcnow()
    with session_scope() as session:
        session.execute(
            text(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, enabled, "
                "failed_deliveries, secret, previous_secret, previous_secret_expires_at, created_at, updated_at) "
                "VALUES ('ep1', :tenant, 'http://127.0.0.1:9/hook', '', '[]', 1, 0, :secret, :previous, "
                ":expires, :now, :now)"
            ),
            {
                "tenant": tenant_id,
                "secret": plain,
                "previous": previous,
                "expires": now + timedelta(hours=1),
                "now": now,
            },
        )
        session.execute(
            text(
                "INSERT INTO webhook_signing_secrets (tenant_id, secret, created_at, updated_at) "
                "VALUES (:tenant, :secret, :now, :now)"
            ),
            {"tenant": tenant_id, "secret": plain, "now": now},
        )
    command.upgrade(alembic_config(), "head")
    secret, old = stored("webhook_endpoints", "id", "ep1")
    assert secret.startswith(SEALED_PREFIX) and old is not None and old.startswith(SEALED_PREFIX)
    assert endpoint_secrets("ep1") == [plain, previous]
    # The default secret could be read before: it counts as shown, so the API masks it now.
    masked = embedded.client.get(f"{API}/webhooks/default/secret", headers=auth(tenant_key)).json()
    assert masked["secret"] is None and masked["secret_hint"] == plain[:10] + "…"


def test_production_needs_secrets_keys_and_refuses_a_malformed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "a-production-secret-key-0123456789abcdef"
    monkeypatch.delenv("IMAGESTUDIO_SECRETS_KEYS", raising=False)
    with pytest.raises(ValidationError, match="IMAGESTUDIO_SECRETS_KEYS"):
        # Not the checkout's .env: `make install` writes a key there for docker-compose.yml.
        Settings(_env_file=None, environment="production", secret_key=secret)  # type: ignore[arg-type,call-arg]
    with pytest.raises(ValidationError, match="not a Fernet key"):
        Settings(secret_key=secret, secrets_keys="not-a-key")  # type: ignore[arg-type]
    assert Settings(
        environment="production",  # type: ignore[arg-type]
        secret_key=secret,  # type: ignore[arg-type]
        secrets_keys=Fernet.generate_key().decode(),  # type: ignore[arg-type]
    )
