"""SQL for webhook endpoints, secrets, per-job subscriptions, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ScalarSelect, Select, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from imagestudio.db import is_postgres, utcnow
from imagestudio.paging import newest_first
from imagestudio.webhooks.models import (
    DeliveryStatus,
    JobWebhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSigningSecret,
    WebhookTarget,
)
from imagestudio.webhooks.schemas import DeliveryFilter


def _in_flight_beside(now: datetime) -> ScalarSelect[int]:
    """The deliveries the tenant of the delivery at hand has in flight, that one aside: a subquery
    correlated to ``WebhookDelivery``."""
    other = aliased(WebhookDelivery)
    return (
        select(func.count())
        .select_from(other)
        .where(
            other.tenant_id == WebhookDelivery.tenant_id,
            other.locked_until > now,
            other.status == DeliveryStatus.pending.value,
            other.id != WebhookDelivery.id,
        )
        .correlate(WebhookDelivery)
        .scalar_subquery()
    )


class WebhookRepository:
    # --- endpoints --------------------------------------------------------------------------
    def endpoints(self, session: Session, *, tenant_id: str) -> Sequence[WebhookEndpoint]:
        return session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == tenant_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        ).all()

    def enabled_endpoints(self, session: Session, *, tenant_id: str) -> Sequence[WebhookEndpoint]:
        return session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True)
            )
        ).all()

    def endpoint(
        self, session: Session, *, endpoint_id: str, tenant_id: str | None = None, for_update: bool = False
    ) -> WebhookEndpoint | None:
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if tenant_id is not None:
            stmt = stmt.where(WebhookEndpoint.tenant_id == tenant_id)
        if for_update and is_postgres(session):
            stmt = stmt.with_for_update()
        return session.scalar(stmt)

    # --- secrets and per-job subscriptions ----------------------------------------------------
    def mark_signing_secret_revealed(self, session: Session, *, tenant_id: str) -> bool:
        """Mark the tenant's secret shown; True only for the one caller that found it unshown."""
        result = session.execute(
            update(WebhookSigningSecret)
            .where(WebhookSigningSecret.tenant_id == tenant_id, WebhookSigningSecret.revealed_at.is_(None))
            .values(revealed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def rows_with_secrets(self, session: Session) -> list[WebhookEndpoint | WebhookSigningSecret]:
        """Every endpoint and tenant secret row (re-sealing after a key rotation)."""
        endpoints = session.scalars(select(WebhookEndpoint).with_for_update()).all()
        defaults = session.scalars(select(WebhookSigningSecret).with_for_update()).all()
        return [*endpoints, *defaults]

    def signing_secret(self, session: Session, *, tenant_id: str) -> WebhookSigningSecret | None:
        return session.get(WebhookSigningSecret, tenant_id)

    def job_webhook(self, session: Session, *, job_id: str) -> JobWebhook | None:
        return session.get(JobWebhook, job_id)

    # --- per-job targets ----------------------------------------------------------------------
    def target(
        self, session: Session, *, tenant_id: str, url_hash: str, for_update: bool = False
    ) -> WebhookTarget | None:
        stmt = select(WebhookTarget).where(
            WebhookTarget.tenant_id == tenant_id, WebhookTarget.url_hash == url_hash
        )
        if for_update and is_postgres(session):
            stmt = stmt.with_for_update()
        return session.scalar(stmt)

    def target_by_id(self, session: Session, *, tenant_id: str, target_id: str) -> WebhookTarget | None:
        return session.scalar(
            select(WebhookTarget).where(WebhookTarget.id == target_id, WebhookTarget.tenant_id == tenant_id)
        )

    def targets(self, session: Session, *, tenant_id: str, limit: int) -> Sequence[WebhookTarget]:
        """The tenant's targets with failures on record, disabled ones first, newest change first."""
        return session.scalars(
            select(WebhookTarget)
            .where(WebhookTarget.tenant_id == tenant_id)
            .order_by(WebhookTarget.enabled, WebhookTarget.updated_at.desc(), WebhookTarget.id)
            .limit(limit)
        ).all()

    # --- deliveries ---------------------------------------------------------------------------
    def delivery(
        self, session: Session, *, delivery_id: str, tenant_id: str | None = None
    ) -> WebhookDelivery | None:
        stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if tenant_id is not None:
            stmt = stmt.where(WebhookDelivery.tenant_id == tenant_id)
        return session.scalar(stmt)

    def claim(
        self,
        session: Session,
        *,
        delivery_id: str,
        token: str,
        now: datetime,
        lease_until: datetime,
        share: int | None = None,
    ) -> bool:
        """Take the delivery for one attempt; False when it is not due, in flight, finished or stale,
        or (with ``share``) its tenant already has that many other deliveries in flight.

        On PostgreSQL a claim under a share first takes a transaction lock on the tenant, so two
        workers claiming at once cannot both pass the count (SQLite runs one writer at a time).
        """
        conditions = [
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.token == token,
            WebhookDelivery.status == DeliveryStatus.pending.value,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
        ]
        if share is not None:
            if is_postgres(session):
                session.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(hashtextextended('webhooks/' || tenant_id, 0))"
                        " FROM webhook_deliveries WHERE id = :id"
                    ),
                    {"id": delivery_id},
                )
            conditions.append(_in_flight_beside(now) < share)
        result = session.execute(
            update(WebhookDelivery)
            .where(*conditions)
            .values(
                locked_until=lease_until,
                attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def page(
        self,
        session: Session,
        *,
        tenant_id: str,
        limit: int,
        filters: DeliveryFilter,
        before: tuple[datetime, str] | None = None,
    ) -> Sequence[WebhookDelivery]:
        stmt: Select[WebhookDelivery] = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id)
        if filters.job_id:
            stmt = stmt.where(WebhookDelivery.job_id == filters.job_id)
        if filters.endpoint_id:
            stmt = stmt.where(WebhookDelivery.endpoint_id == filters.endpoint_id)
        if filters.status:
            stmt = stmt.where(WebhookDelivery.status == filters.status)
        return session.scalars(
            newest_first(
                stmt,
                created_at=WebhookDelivery.created_at,
                row_id=WebhookDelivery.id,
                before=before,
                limit=limit,
            )
        ).all()

    def attempts(self, session: Session, *, delivery_ids: Sequence[str]) -> Sequence[WebhookAttempt]:
        if not delivery_ids:
            return []
        return session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
        ).all()

    def pending(
        self, session: Session, *, due_before: datetime | None, now: datetime, limit: int
    ) -> Sequence[WebhookDelivery]:
        """Pending deliveries not being sent, optionally only those due before ``due_before``."""
        stmt = select(WebhookDelivery).where(
            WebhookDelivery.status == DeliveryStatus.pending.value,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
        )
        if due_before is not None:
            stmt = stmt.where(WebhookDelivery.next_attempt_at < due_before)
        stmt = stmt.order_by(WebhookDelivery.next_attempt_at).limit(limit)
        if is_postgres(session):
            # Every webhook worker sweeps; SKIP LOCKED shares the overdue rows out.
            stmt = stmt.with_for_update(skip_locked=True)
        return session.scalars(stmt).all()


webhook_repository = WebhookRepository()
