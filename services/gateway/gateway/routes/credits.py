"""Credits: balance and ledger, and pricing any studio request before it is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.deps import PrincipalDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import tier_service
from imagestudio.studios.pricing import Estimate, estimate

router = APIRouter(route_class=GuardedRoute, tags=["credits"], responses=PROBLEM_RESPONSES)


class LedgerEntry(BaseModel):
    id: int
    kind: str
    balance_delta: int
    reserved_delta: int
    job_id: str | None
    reference: str
    note: str
    created_at: datetime


class CreditsRead(BaseModel):
    tier: str
    monthly_credits: int
    balance: int
    reserved: int
    available: int
    entries: list[LedgerEntry]


class EstimateRequest(BaseModel):
    studio: str = Field(description="create, edit, upscale or social")
    params: dict[str, Any] = Field(default_factory=dict, description="The same fields the studio route takes")


@router.get("/credits", response_model=CreditsRead)
def get_credits(
    session: SessionDep, principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> CreditsRead:
    """Balance (the ledger's sum), credits held by running jobs, and recent ledger entries."""
    tier = tier_service.tier_of(session, tenant_id=principal.tenant_id)
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
        entries=entries,
    )


@router.post("/estimate-cost", response_model=Estimate)
def estimate_cost(body: EstimateRequest, session: SessionDep, principal: PrincipalDep) -> Estimate:
    """Price a studio request as its route plans it for this tenant's tier: ``total_credits`` is the
    charge when the planned route serves, ``max_credits`` what the job holds while it runs."""
    tier = tier_service.tier_of(session, tenant_id=principal.tenant_id)
    session.rollback()  # planning reads provider health in its own transaction
    return estimate(body.studio, body.params, allowed=tier.providers)
