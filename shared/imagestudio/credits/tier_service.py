"""Enforcing a tenant's tier: studios, providers, batch size, concurrency."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from imagestudio.credits.tiers import Tier, get_tier
from imagestudio.errors import Forbidden, NotFound
from imagestudio.tenants.models import Tenant


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's plan with its negotiated overrides applied: what admission and submit enforce."""

    tier: Tier
    requests_per_minute: int
    max_concurrent_jobs: int


class TierService:
    def limits_of(self, session: Session, *, tenant_id: str) -> TenantLimits:
        """The tenant's effective limits (its tier, overrides applied)."""
        tier = self.tier_of(session, tenant_id=tenant_id)
        return TenantLimits(
            tier=tier,
            requests_per_minute=tier.requests_per_minute,
            max_concurrent_jobs=tier.max_concurrent_jobs,
        )

    def tier_of(self, session: Session, *, tenant_id: str) -> Tier:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such tenant")
        return get_tier(tenant.tier)

    def check_submission(
        self, session: Session, *, tenant_id: str, studio: str, provider: str | None, batch: int | None
    ) -> Tier:
        """Refuse (403, naming the limit) what the tenant's plan does not include."""
        tier = self.tier_of(session, tenant_id=tenant_id)
        self.check_plan(tier, studio=studio, provider=provider, batch=batch)
        return tier

    def check_plan(self, tier: Tier, *, studio: str, provider: str | None, batch: int | None) -> None:
        """Refuse (403, naming the limit) a studio, provider or batch size the plan does not include."""
        if studio not in tier.studios:
            raise Forbidden(
                f"The {tier.name} tier does not include the {studio} studio.",
                extra={"tier": tier.name, "limit": "studios", "allowed": sorted(tier.studios)},
            )
        if provider and provider != "auto" and provider not in tier.providers:
            raise Forbidden(
                f"The {tier.name} tier does not include the {provider} provider.",
                extra={
                    "tier": tier.name,
                    "limit": "providers",
                    "allowed": sorted(tier.providers),
                    "field": "provider",
                },
            )
        if batch is not None and batch > tier.max_batch:
            raise Forbidden(
                f"The {tier.name} tier allows at most {tier.max_batch} images per job.",
                extra={"tier": tier.name, "limit": "max_batch", "allowed": tier.max_batch, "field": "count"},
            )


tier_service = TierService()
