"""The monthly grant: once per month, and never remembered when its transaction rolls back."""

from __future__ import annotations

from datetime import UTC, datetime

from support import Embedded

from imagestudio.credits.service import credit_service
from imagestudio.db import new_session, session_scope
from imagestudio.tenants.service import tenant_service

#: A month no other test grants, so this process has no memory of it.
NOW = datetime(2031, 5, 3, tzinfo=UTC)


def test_a_grant_rolled_back_is_granted_again_by_the_next_transaction(embedded: Embedded) -> None:
    key = embedded.new_key(tier="pro")  # 2,000 credits a month
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
    session = new_session()
    try:
        credit_service.grant_month(session, tenant_id=tenant_id, tier="pro", now=NOW)
        # A second look in the same transaction sees the month granted, but only by itself.
        credit_service.grant_month(session, tenant_id=tenant_id, tier="pro", now=NOW)
        session.rollback()  # e.g. the submission was refused
    finally:
        session.close()
    with session_scope() as session:
        credit_service.grant_month(session, tenant_id=tenant_id, tier="pro", now=NOW)
    with session_scope() as session:
        credit_service.grant_month(session, tenant_id=tenant_id, tier="pro", now=NOW)  # once only
        assert credit_service.balance(session, tenant_id=tenant_id).balance == 2_000
        assert credit_service.ledger_totals(session, tenant_id=tenant_id).balance == 2_000
