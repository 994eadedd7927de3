"""Creating tenants and keys, authenticating a presented key (cached a few seconds), revoking keys
and setting a tenant's negotiated limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import TenantLimits, tier_service
from imagestudio.credits.tiers import TierName
from imagestudio.db import utcnow
from imagestudio.errors import Conflict, NotFound, Unauthorized
from imagestudio.request_cache import RequestCache
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
    #: The tenant's limits when the key was looked up (admission needs no query for its rate).
    limits: TenantLimits


#: SHA-256 of a presented key -> its Principal, for IMAGESTUDIO_AUTH_CACHE_SECONDS. Only valid keys
#: are kept: a key unknown now may not be unknown later, and misses are one indexed lookup.
_principals: RequestCache[Principal] = RequestCache()


def _forget_after_commit(session: Session) -> None:
    """Empty this process's key cache now and again once the change is committed.

    The second time closes the window where a request loads the old row between the first
    clear and the commit.
    """
    _principals.clear()
    event.listen(session, "after_commit", lambda _session: _principals.clear(), once=True)


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

    def remembered(self, *, key: str) -> Principal | None:
        """The key's principal when this process saw it valid moments ago (no I/O); None otherwise."""
        if not key.startswith(KEY_PREFIX):
            return None
        return _principals.peek(hash_key(key))

    def authenticate(self, session: Session, *, key: str) -> Principal:
        """The key's tenant and limits; a key seen valid is answered from memory for a few seconds."""
        if not key.startswith(KEY_PREFIX):
            raise Unauthorized("Invalid API key")
        digest = hash_key(key)

        def load() -> Principal:
            found = session.execute(
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_hash == digest)
            ).first()
            # compare_digest keeps the final check constant-time even though the lookup is by hash.
            if (
                found is None
                or found[0].revoked_at is not None
                or not hmac.compare_digest(found[0].key_hash, digest)
            ):
                raise Unauthorized("Invalid API key")
            row, tenant = found
            return Principal(tenant_id=row.tenant_id, key_id=row.id, limits=TenantLimits.of(tenant))

        return _principals.get_or_load(digest, load)

    def revoke_key(self, session: Session, *, key: str) -> ApiKey:
        """Revoke a key named by its id or its shown prefix (``isk_…``, 12 characters).

        This process stops accepting it at once; other processes within IMAGESTUDIO_AUTH_CACHE_SECONDS.
        """
        rows = list(session.scalars(select(ApiKey).where(or_(ApiKey.id == key, ApiKey.prefix == key))))
        if not rows:
            raise NotFound(f"No API key with id or prefix {key!r}")
        if len(rows) > 1:
            raise Conflict(f"{len(rows)} keys start with {key!r}; name the key by its id")
        [row] = rows
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.flush()
        _forget_after_commit(session)
        return row

    def set_limits(
        self,
        session: Session,
        *,
        tenant_id: str,
        requests_per_minute: int | None = None,
        max_concurrent_jobs: int | None = None,
        max_stored_bytes: int | None = None,
        clear: bool = False,
    ) -> TenantLimits:
        """Override the tier's rate, concurrency and/or storage quota for one tenant (``clear`` drops them all).

        Returns the effective limits. Seen by this process at once, by others within the cache time.
        """
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such tenant")
        if clear:
            tenant.requests_per_minute = tenant.max_concurrent_jobs = tenant.max_stored_bytes = None
        if requests_per_minute is not None:
            tenant.requests_per_minute = requests_per_minute
        if max_concurrent_jobs is not None:
            tenant.max_concurrent_jobs = max_concurrent_jobs
        if max_stored_bytes is not None:
            tenant.max_stored_bytes = max_stored_bytes
        session.flush()
        tier_service.forget(tenant_id=tenant_id)
        event.listen(session, "after_commit", lambda _s: tier_service.forget(tenant_id=tenant_id), once=True)
        _forget_after_commit(session)
        return TenantLimits.of(tenant)

    def list_tenants(self, session: Session) -> list[Tenant]:
        return list(session.scalars(select(Tenant).order_by(Tenant.created_at)))


tenant_service = TenantService()
