"""Enforcing a tenant's tier: studios, providers, batch size, priorities, output retention, concurrency."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from imagestudio.credits.tiers import Tier, get_tier
from imagestudio.errors import Forbidden, NotFound
from imagestudio.messaging import PRIORITY_RANKS, Priority
from imagestudio.request_cache import RequestCache
from imagestudio.tenants.models import Tenant


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's plan with its negotiated overrides applied: what admission and submit enforce."""

    tier: Tier
    requests_per_minute: int
    max_concurrent_jobs: int
    #: Bytes the tenant may keep stored (uploads and job outputs).
    max_stored_bytes: int

    @classmethod
    def of(cls, tenant: Tenant) -> TenantLimits:
        """The limits a tenant row gives: its tier's, each replaced by the tenant's override when set."""
        tier = get_tier(tenant.tier)
        rate, concurrency = tenant.requests_per_minute, tenant.max_concurrent_jobs
        stored = tenant.max_stored_bytes
        return cls(
            tier=tier,
            requests_per_minute=tier.requests_per_minute if rate is None else rate,
            max_concurrent_jobs=tier.max_concurrent_jobs if concurrency is None else concurrency,
            max_stored_bytes=tier.max_stored_bytes if stored is None else stored,
        )


#: Tenant id -> TenantLimits, for IMAGESTUDIO_AUTH_CACHE_SECONDS.
_limits_cache: RequestCache[TenantLimits] = RequestCache()


class TierService:
    def limits_of(self, session: Session, *, tenant_id: str) -> TenantLimits:
        """The tenant's effective limits (its tier, overrides applied), cached for a few seconds."""

        def load() -> TenantLimits:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("No such tenant")
            return TenantLimits.of(tenant)

        return _limits_cache.get_or_load(tenant_id, load)

    def forget(self, *, tenant_id: str) -> None:
        """Drop this process's cached limits of a tenant (after its tier or overrides change)."""
        _limits_cache.discard(tenant_id)

    def tier_of(self, session: Session, *, tenant_id: str) -> Tier:
        """The tenant's tier, from the same short cache as its limits (studio checks and submit agree)."""
        return self.limits_of(session, tenant_id=tenant_id).tier

    def check_submission(
        self, session: Session, *, tenant_id: str, studio: str, provider: str | None, batch: int | None
    ) -> Tier:
        """Refuse (403, naming the limit) what the tenant's plan does not include."""
        tier = self.tier_of(session, tenant_id=tenant_id)
        self.check_plan(tier, studio=studio, provider=provider, batch=batch)
        return tier

    def check_plan(
        self,
        tier: Tier,
        *,
        studio: str,
        provider: str | None,
        batch: int | None,
        priority: Priority = Priority.normal,
        output_retention_seconds: int | None = None,
    ) -> None:
        """Refuse (403, naming the limit and the field) a studio, provider, batch size, priority or
        output retention the plan does not include."""
        if studio not in tier.studios:
            raise _outside(tier, f"the {studio} studio", "studios", sorted(tier.studios))
        if provider and provider != "auto" and provider not in tier.providers:
            raise _outside(tier, f"the {provider} provider", "providers", sorted(tier.providers), "provider")
        if batch is not None and batch > tier.max_batch:
            raise _outside(
                tier, f"more than {tier.max_batch} images per job", "max_batch", tier.max_batch, "count"
            )
        if priority not in tier.priorities:
            allowed = sorted(tier.priorities, key=PRIORITY_RANKS.__getitem__)
            raise _outside(tier, f"the {priority} priority", "priorities", allowed, "priority")
        limit = tier.max_output_retention_seconds
        if output_retention_seconds is not None and output_retention_seconds > limit:
            raise _outside(
                tier,
                f"keeping outputs on request for more than {limit} seconds",
                "max_output_retention_seconds",
                limit,
                "output_retention_seconds",
            )


def _outside(tier: Tier, what: str, limit: str, allowed: object, field: str | None = None) -> Forbidden:
    """The 403 refusing ``what`` the tier does not include, naming the limit (and the request's field)."""
    extra: dict[str, object] = {"tier": tier.name, "limit": limit, "allowed": allowed}
    if field is not None:
        extra["field"] = field
    return Forbidden(f"The {tier.name} tier does not include {what}.", extra=extra)


tier_service = TierService()
