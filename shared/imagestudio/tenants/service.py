"""Creating tenants and keys, and authenticating a presented key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagestudio.credits.service import credit_service
from imagestudio.credits.tiers import TierName
from imagestudio.errors import Unauthorized
from imagestudio.tenants.models import ApiKey, Tenant

#: Every key starts with this, so leaked keys are recognisable by secret scanners.
KEY_PREFIX = "isk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    tenant_id: str
    key_id: str
    key: str  # shown once, never stored


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str


class TenantService:
    def create_tenant(self, session: Session, *, name: str, tier: str = "free") -> Tenant:
        tenant = Tenant(name=name, tier=TierName(tier).value)
        session.add(tenant)
        session.flush()
        credit_service.open_account(session, tenant_id=tenant.id)
        return tenant

    def create_key(self, session: Session, *, tenant_id: str, name: str = "") -> CreatedKey:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(tenant_id=tenant_id, prefix=key[:12], key_hash=hash_key(key), name=name)
        session.add(row)
        session.flush()
        return CreatedKey(tenant_id=tenant_id, key_id=row.id, key=key)

    def authenticate(self, session: Session, *, key: str) -> Principal:
        if not key.startswith(KEY_PREFIX):
            raise Unauthorized("Invalid API key")
        digest = hash_key(key)
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        # compare_digest keeps the final check constant-time even though the lookup is by hash.
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
            raise Unauthorized("Invalid API key")
        return Principal(tenant_id=row.tenant_id, key_id=row.id)

    def list_tenants(self, session: Session) -> list[Tenant]:
        return list(session.scalars(select(Tenant).order_by(Tenant.created_at)))


tenant_service = TenantService()
