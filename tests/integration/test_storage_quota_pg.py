"""Storage quota and asset retention on PostgreSQL and the S3 server (the same scenarios as embedded mode)."""

from __future__ import annotations

import threading

import pytest
import quota_support as scenario
from support import Embedded

from imagestudio.db import session_scope
from imagestudio.errors import StorageQuotaExceeded
from imagestudio.quota.service import storage_quota_service

pytestmark = pytest.mark.integration


test_storage_quota_scenario = scenario.scenario_test("pg_stack")


def test_concurrent_charges_never_pass_the_quota(pg_stack: Embedded) -> None:
    """Twelve transactions charging 100 bytes each against a 500-byte quota at once: exactly five fit."""
    _, tenant_id = pg_stack.new_tenant()
    scenario.set_quota(tenant_id, 500)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    lock = threading.Lock()

    def charge() -> None:
        with session_scope() as session:
            barrier.wait(timeout=30)
            try:
                storage_quota_service.charge(session, tenant_id=tenant_id, size_bytes=100, what="test")
                session.commit()
                outcome = "charged"
            except StorageQuotaExceeded:
                session.rollback()
                outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=charge) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["charged"] * 5 + ["refused"] * 7
    assert scenario.used(tenant_id) == 500
