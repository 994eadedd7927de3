"""Credits: balance and ledger, and pricing any studio request before it is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from gateway.deps import PrincipalDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import tier_service
from imagestudio.jobs.schemas import JOB_EXAMPLE
from imagestudio.messaging import PRIORITY_RANKS, Priority
from imagestudio.quota.service import storage_quota_service
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.registry import estimate

router = APIRouter(route_class=GuardedRoute, tags=["credits"], responses=PROBLEM_RESPONSES)

_JOB_ID = JOB_EXAMPLE["id"]
#: A basic-tier month: the grant, then a job holding credits and one capturing them (newest first).
_LEDGER_EXAMPLE: list[JsonValue] = [
    {
        "id": 3,
        "kind": "capture",
        "balance_delta": -6,
        "reserved_delta": -6,
        "job_id": _JOB_ID,
        "reference": f"job:{_JOB_ID}:image",
        "note": "",
        "created_at": "2025-01-31T09:30:03Z",
    },
    {
        "id": 2,
        "kind": "reserve",
        "balance_delta": 0,
        "reserved_delta": 6,
        "job_id": _JOB_ID,
        "reference": f"job:{_JOB_ID}",
        "note": "",
        "created_at": "2025-01-31T09:30:00Z",
    },
    {
        "id": 1,
        "kind": "grant",
        "balance_delta": 500,
        "reserved_delta": 0,
        "job_id": None,
        "reference": "month:2025-01",
        "note": "basic monthly grant",
        "created_at": "2025-01-01T00:00:00Z",
    },
]
#: ``POST /estimate-cost`` for the create studio's example request, as a basic tier prices it.
_ESTIMATE_EXAMPLE = {
    "studio": "create",
    "total_credits": 6,
    "max_credits": 8,
    "currency": "credits",
    "breakdown": [
        {
            "item": "image via stability core; held at 4, the dearest fallback, and charged only for images made",
            "provider": "stability",
            "model": "core",
            "quality": "standard",
            "unit_credits": 3,
            "count": 2,
            "credits": 6,
        }
    ],
}


class LedgerEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LEDGER_EXAMPLE[0]]})

    id: int
    kind: str
    balance_delta: int
    reserved_delta: int
    job_id: str | None
    reference: str
    note: str
    created_at: datetime


class CreditsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tier": "basic",
                    "monthly_credits": 500,
                    "balance": 494,
                    "reserved": 0,
                    "available": 494,
                    "stored_bytes": 48_213_504,
                    "max_stored_bytes": 10_737_418_240,
                    "priorities": ["low", "normal"],
                    "max_output_retention_seconds": 604_800,
                    "entries": _LEDGER_EXAMPLE,
                }
            ]
        }
    )

    tier: str
    monthly_credits: int
    balance: int
    reserved: int
    available: int
    stored_bytes: int = Field(description="Bytes of uploads and job outputs the tenant stores now")
    max_stored_bytes: int = Field(description="The tenant's storage quota (its tier's, or its override)")
    priorities: list[Priority] = Field(description="The `priority` values a submission may ask for")
    max_output_retention_seconds: int = Field(
        description="The longest `output_retention_seconds` a submission may set"
    )
    entries: list[LedgerEntry]


class EstimateRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"studio": "create", "params": {"prompt": "a lighthouse at dawn, watercolour", "count": 2}},
                {"studio": "social", "params": {"formats": ["instagram.story", "instagram.feed_square"]}},
            ]
        }
    )

    studio: str = Field(description="create, edit, upscale, social, control, compress or convert")
    params: dict[str, Any] = Field(default_factory=dict, description="The same fields the studio route takes")


@router.get("/credits", response_model=CreditsRead)
def get_credits(
    session: SessionDep, principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> CreditsRead:
    """Balance (the ledger's sum), credits held by running jobs, recent ledger entries, and the
    bytes stored against the storage quota."""
    limits = tier_service.limits_of(session, tenant_id=principal.tenant_id)
    tier = limits.tier
    credit_service.grant_month(session, tenant_id=principal.tenant_id, tier=tier.name)
    session.commit()
    current = credit_service.balance(session, tenant_id=principal.tenant_id)
    entries = [
        LedgerEntry.model_validate(e, from_attributes=True)
        for e in credit_service.recent(session, tenant_id=principal.tenant_id, limit=limit)
    ]
    return CreditsRead(
        tier=tier.name,
        monthly_credits=tier.monthly_credits,
        balance=current.balance,
        reserved=current.reserved,
        available=current.available,
        stored_bytes=storage_quota_service.used(session, tenant_id=principal.tenant_id),
        max_stored_bytes=limits.max_stored_bytes,
        priorities=sorted(tier.priorities, key=PRIORITY_RANKS.__getitem__),
        max_output_retention_seconds=tier.max_output_retention_seconds,
        entries=entries,
    )


@router.post("/estimate-cost", response_model=Estimate, responses=example_response(_ESTIMATE_EXAMPLE))
def estimate_cost(body: EstimateRequest, session: SessionDep, principal: PrincipalDep) -> Estimate:
    """Price a studio request as its route plans it for this tenant's tier: ``total_credits`` is the
    charge when the planned route serves, ``max_credits`` what the job holds while it runs."""
    tier = tier_service.tier_of(session, tenant_id=principal.tenant_id)
    session.rollback()  # planning reads provider health in its own transaction
    return estimate(body.studio, body.params, allowed=tier.providers)
