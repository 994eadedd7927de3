"""Re-pricing a job's hold once its images are known: the excess released, or the difference held, once."""

from __future__ import annotations

import pytest
from support import Embedded

from imagestudio.credits.service import credit_service
from imagestudio.db import session_scope
from imagestudio.errors import PaymentRequired
from imagestudio.tenants.service import tenant_service


def tenant_with_hold(embedded: Embedded, *, held: int, tier: str = "pro") -> str:
    """A tenant (its month granted) with one job holding ``held`` credits; its id."""
    key = embedded.new_key(tier=tier)
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        credit_service.grant_month(session, tenant_id=tenant_id, tier=tier)
        credit_service.hold(session, tenant_id=tenant_id, holds=[("job-1", held)])
    return tenant_id


def reserved(tenant_id: str) -> tuple[int, int]:
    """(the account row's reserved, the ledger's): they must always agree."""
    with session_scope() as session:
        return (
            credit_service.balance(session, tenant_id=tenant_id).reserved,
            credit_service.ledger_totals(session, tenant_id=tenant_id).reserved,
        )


@pytest.mark.parametrize(
    ("held", "cost", "released"), [(40, 0, 40), (40, 25, 15), (10, 40, -30), (40, 40, 0)]
)
def test_a_hold_is_brought_to_the_price_once(embedded: Embedded, held: int, cost: int, released: int) -> None:
    tenant_id = tenant_with_hold(embedded, held=held)
    with session_scope() as session:
        assert credit_service.reprice(session, tenant_id=tenant_id, job_id="job-1", cost=cost) == released
    assert reserved(tenant_id) == (cost, cost)
    with session_scope() as session:  # a redelivery moves nothing more
        assert credit_service.reprice(session, tenant_id=tenant_id, job_id="job-1", cost=cost) == 0
    assert reserved(tenant_id) == (cost, cost)
    with session_scope() as session:  # the job's end settles from the new hold: nothing left over
        assert credit_service.settle(
            session, tenant_id=tenant_id, job_id="job-1", captures=[("out", cost)]
        ) == (
            cost,
            0,
        )
    assert reserved(tenant_id) == (0, 0)


def test_a_difference_the_tenant_cannot_afford_is_a_402_and_moves_nothing(embedded: Embedded) -> None:
    tenant_id = tenant_with_hold(embedded, held=10, tier="free")
    with session_scope() as session:
        available = credit_service.balance(session, tenant_id=tenant_id).available
    with pytest.raises(PaymentRequired), session_scope() as session:
        credit_service.reprice(session, tenant_id=tenant_id, job_id="job-1", cost=10 + available + 1)
    assert reserved(tenant_id) == (10, 10)
