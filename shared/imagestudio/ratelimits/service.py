"""Fixed-window request limits and idempotency keys, both in the shared database.

Counters live in a table (upserted), not in process memory, so the limit holds across every
gateway replica; no extra service is needed in either mode.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from imagestudio.db import session_scope, utcnow
from imagestudio.errors import Conflict, InvalidRequest, RateLimited, ValidationFailed
from imagestudio.ratelimits.models import IdempotencyRecord, RateLimitWindow

#: How long a stored first response is replayed.
IDEMPOTENCY_TTL = timedelta(hours=24)
#: Longest Idempotency-Key accepted (the IETF draft and Stripe use 255).
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class RateLimitState:
    policy: str
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w=60',
            "RateLimit": f'"{self.policy}";r={max(self.remaining, 0)};t={self.reset_seconds}',
        }


class RateLimitService:
    def hit(self, *, tenant_id: str, policy: str, limit: int, window_seconds: int = 60) -> RateLimitState:
        """Count one request; raises 429 (with Retry-After and RateLimit fields) over the limit."""
        now = time.time()
        window = int(now // window_seconds) * window_seconds
        with session_scope() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            upsert = (
                insert(RateLimitWindow)
                .values(tenant_id=tenant_id, name=policy, window_start=window, count=1)
                .on_conflict_do_update(
                    index_elements=["tenant_id", "name", "window_start"],
                    set_={"count": RateLimitWindow.count + 1},
                )
                .returning(RateLimitWindow.count)
            )
            count = int(session.execute(upsert).scalar_one())
            if random.random() < 0.01:  # old windows are useless; sweep them now and then
                session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_start < window - 3600))
        state = RateLimitState(
            policy=policy,
            limit=limit,
            remaining=limit - count,
            reset_seconds=max(1, int(window + window_seconds - now)),
        )
        if count > limit:
            raise RateLimited(
                f"More than {limit} job submissions in {window_seconds} s; retry in {state.reset_seconds} s.",
                headers={"Retry-After": str(state.reset_seconds), **state.headers()},
                extra={"limit": limit, "window_seconds": window_seconds, "violated-policies": [policy]},
            )
        return state


rate_limit_service = RateLimitService()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class IdempotencyService:
    def begin(self, *, tenant_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim ``key`` for this request, or return the first response to replay.

        Raises 422 when the key was used with a different request and 409 while the first
        request with the key is still being handled.
        """
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        for _ in range(2):
            with session_scope() as session:
                record = session.scalar(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
                    )
                )
                if record is not None and record.created_at < utcnow() - IDEMPOTENCY_TTL:
                    session.delete(record)  # past 24 h a reused key is a new request
                    session.flush()
                    record = None
                if record is None:
                    try:
                        session.add(IdempotencyRecord(tenant_id=tenant_id, key=key, fingerprint=fingerprint))
                        session.flush()
                        return None
                    except IntegrityError:
                        session.rollback()
                        continue  # another request took the key between our read and insert
                if record.state != "done" or record.response_status is None:
                    raise Conflict(
                        "A request with this Idempotency-Key is still being handled; retry shortly."
                    )
                if record.fingerprint != fingerprint:
                    raise ValidationFailed(
                        "Idempotency-Key",
                        "this key was already used with a different request (route or body)",
                    )
                return StoredResponse(
                    record.response_status, record.response_body or {}, record.response_headers or {}
                )
        raise Conflict("A request with this Idempotency-Key is still being handled; retry shortly.")

    def complete(self, *, tenant_id: str, key: str, response: StoredResponse) -> None:
        with session_scope() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
                )
            )
            if record is not None:
                record.state = "done"
                record.response_status = response.status
                record.response_body = response.body
                record.response_headers = response.headers

    def abandon(self, *, tenant_id: str, key: str) -> None:
        """Forget a key whose request failed before a job was made, so a corrected retry can use it."""
        with session_scope() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.tenant_id == tenant_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "processing",
                )
            )


idempotency_service = IdempotencyService()
