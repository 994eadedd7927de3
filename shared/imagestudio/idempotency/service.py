"""Idempotency keys: the first response to a tenant's ``Idempotency-Key``, replayed for 24 hours.

The records stay in the database, next to the jobs they guard, written in the transaction that
makes the jobs (see ``IdempotencyService``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Insert, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.db import new_id, utcnow
from imagestudio.errors import Conflict, IdempotentReplay, InvalidRequest, ValidationFailed
from imagestudio.idempotency.models import IdempotencyRecord

#: How long a stored first response is replayed.
IDEMPOTENCY_TTL = timedelta(hours=24)
#: Longest Idempotency-Key accepted (the IETF draft and Stripe use 255).
MAX_KEY_LENGTH = 255


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
    A request that commits its jobs in several transactions (a batch that does not fit whole)
    ``claim``s the key first, committed alone and ``processing``: a racing request then loses
    before it commits anything, and replays the answer once ``complete`` stored it (a 409 until).
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
            self._insert(claim, state="done").values(
                response_status=response.status,
                response_body=response.body,
                response_headers=response.headers,
            )
        )

    def _insert(self, claim: IdempotencyClaim, *, state: str) -> Insert:
        """The key's row as first written (``done`` with its answer, or ``processing`` while held)."""
        return insert(IdempotencyRecord).values(
            id=new_id(),
            tenant_id=claim.tenant_id,
            key=claim.key,
            fingerprint=claim.fingerprint,
            state=state,
            created_at=utcnow(),
        )

    def claim(self, session: Session, *, claim: IdempotencyClaim) -> None:
        """Hold the key as ``processing``, committed now, before the first of several commits it covers.

        Raises ``IdempotentReplay`` (the winner's answer) or 409 when a racing request holds it.
        """
        try:
            session.execute(self._insert(claim, state="processing"))
            session.commit()
            return
        except IntegrityError:
            session.rollback()
        try:
            answer = self.replay_after_race(session, claim=claim)
        finally:
            session.rollback()  # end the read: on SQLite an open transaction holds the write lock
        raise answer

    def complete(self, session: Session, *, claim: IdempotencyClaim, response: StoredResponse) -> None:
        """Store the answer of a ``claim``ed key, in the caller's transaction: replays get it from now."""
        session.execute(
            update(IdempotencyRecord)
            .where(*self._held(claim))
            .values(
                state="done",
                response_status=response.status,
                response_body=response.body,
                response_headers=response.headers,
            )
        )

    def release(self, session: Session, *, claim: IdempotencyClaim) -> None:
        """Give up a ``claim``ed key whose request made nothing (its retry is a new request); commits."""
        session.execute(delete(IdempotencyRecord).where(*self._held(claim)))
        session.commit()

    def _held(self, claim: IdempotencyClaim) -> tuple[Any, ...]:
        return (
            IdempotencyRecord.tenant_id == claim.tenant_id,
            IdempotencyRecord.key == claim.key,
            IdempotencyRecord.state == "processing",
        )

    def replay_after_race(self, session: Session, *, claim: IdempotencyClaim) -> IdempotentReplay:
        """After losing a race on the key (the caller rolled back): the winner's response to answer."""
        stored = self.lookup(session, claim=claim)
        if stored is None:
            raise Conflict("A request with this Idempotency-Key is still being handled; retry shortly.")
        return IdempotentReplay(status=stored.status, body=stored.body, headers=stored.headers)


idempotency_service = IdempotencyService()
