"""An Idempotency-Key claimed before several commits: racers get 409 while it is held, then its answer."""

from __future__ import annotations

import pytest
from support import Embedded

from imagestudio.db import session_scope
from imagestudio.errors import Conflict, IdempotentReplay, ValidationFailed
from imagestudio.idempotency.service import IdempotencyClaim, StoredResponse, idempotency_service


def test_a_claimed_key_is_409_until_completed_then_replays_and_a_released_key_is_free(
    embedded: Embedded,
) -> None:
    _, tenant_id = embedded.new_tenant()
    claim = IdempotencyClaim(tenant_id=tenant_id, key="batch-7", fingerprint="f" * 64)
    with session_scope() as first, session_scope() as racer:
        idempotency_service.claim(first, claim=claim)
        with pytest.raises(Conflict):
            idempotency_service.claim(racer, claim=claim)
        with pytest.raises(Conflict):  # what a request arriving now is told at admission
            idempotency_service.lookup(racer, claim=claim)
        racer.rollback()
        idempotency_service.complete(first, claim=claim, response=StoredResponse(200, {"jobs": []}, {}))
        first.commit()
        with pytest.raises(IdempotentReplay) as replay:
            idempotency_service.claim(racer, claim=claim)
        assert (replay.value.response_status, replay.value.body) == (200, {"jobs": []})
        other = IdempotencyClaim(tenant_id=tenant_id, key="batch-7", fingerprint="0" * 64)
        with pytest.raises(ValidationFailed):
            idempotency_service.claim(racer, claim=other)

        freed = IdempotencyClaim(tenant_id=tenant_id, key="batch-8", fingerprint="f" * 64)
        idempotency_service.claim(first, claim=freed)
        idempotency_service.release(first, claim=freed)
        assert idempotency_service.lookup(racer, claim=freed) is None
        racer.rollback()
        idempotency_service.claim(racer, claim=freed)  # a new request now
