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

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from imagestudio.db import new_id, session_scope, utcnow
from imagestudio.errors import Conflict, IdempotentReplay, InvalidRequest, RateLimited, ValidationFailed
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


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key a request carries: recorded with its jobs, in their transaction."""

    tenant_id: str
    key: str
    fingerprint: str


class IdempotencyService:
    """Idempotency-Key records: looked up at admission, written in the transaction that makes the jobs.

    Writing the record with the jobs leaves no window in which a crash keeps a job without its key
    (a retry would make a second job) or a key without its job. Two racing requests with one key
    both try to commit; the unique (tenant, key) lets one win and the other replays its response.
    """

    def lookup(self, session: Session, *, claim: IdempotencyClaim) -> StoredResponse | None:
        """The first response to replay for this key, or None when the key is new.

        Raises 422 when the key was used with a different request (route or body).
        """
        key = claim.key
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        record = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == claim.tenant_id, IdempotencyRecord.key == key
            )
        )
        if record is None:
            return None
        if record.created_at < utcnow() - IDEMPOTENCY_TTL:
            session.delete(record)  # past 24 h a reused key is a new request
            session.flush()
            return None
        if record.state != "done" or record.response_status is None:
            raise Conflict("A request with this Idempotency-Key is still being handled; retry shortly.")
        if record.fingerprint != claim.fingerprint:
            raise ValidationFailed(
                "Idempotency-Key", "this key was already used with a different request (route or body)"
            )
        return StoredResponse(
            record.response_status, record.response_body or {}, record.response_headers or {}
        )

    def record(self, session: Session, *, claim: IdempotencyClaim, response: StoredResponse) -> None:
        """Store the response in the caller's transaction; its commit fails if a racing request won."""
        session.execute(
            insert(IdempotencyRecord).values(
                id=new_id(),
                tenant_id=claim.tenant_id,
                key=claim.key,
                fingerprint=claim.fingerprint,
                state="done",
                response_status=response.status,
                response_body=response.body,
                response_headers=response.headers,
                created_at=utcnow(),
            )
        )

    def replay_after_race(self, session: Session, *, claim: IdempotencyClaim) -> IdempotentReplay:
        """After losing a race on the key (the caller rolled back): the winner's response to answer."""
        stored = self.lookup(session, claim=claim)
        if stored is None:
            raise Conflict("A request with this Idempotency-Key is still being handled; retry shortly.")
        return IdempotentReplay(status=stored.status, body=stored.body, headers=stored.headers)


idempotency_service = IdempotencyService()
