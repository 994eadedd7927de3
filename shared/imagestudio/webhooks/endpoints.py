"""Where webhooks go: tenant endpoints, per-job subscriptions, their signing secrets, the egress guard.

Every URL is checked by the egress guard at registration (a 422 naming the field) and again at
send time (``sending.py``). Secrets are shown once and sealed at rest (``models.py``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from imagestudio.config import get_settings
from imagestudio.db import utcnow
from imagestudio.egress import EgressGuard, EgressRefused
from imagestudio.errors import Conflict, NotFound, ValidationFailed
from imagestudio.telemetry.logging import get_logger
from imagestudio.webhooks.models import (
    JobWebhook,
    RotatingSecret,
    WebhookEndpoint,
    WebhookEventType,
    WebhookSigningSecret,
    WebhookTarget,
)
from imagestudio.webhooks.repository import webhook_repository
from imagestudio.webhooks.schemas import (
    JobWebhookCreate,
    SigningSecretRead,
    WebhookEndpointCreate,
    WebhookEndpointPatch,
    WebhookEndpointRead,
    WebhookEndpointWithSecret,
    WebhookTargetRead,
)
from imagestudio.webhooks.signing import new_secret, secret_hint

log = get_logger(__name__)

#: Endpoints one tenant may register.
MAX_ENDPOINTS = 20
#: Targets one listing shows (disabled ones first).
MAX_TARGETS_LISTED = 100


def url_hash(url: str) -> str:
    """The key of a per-job target: SHA-256 of its URL, hex."""
    return hashlib.sha256(url.encode()).hexdigest()


def active_secrets(row: RotatingSecret, now: datetime) -> list[str]:
    """The secret, plus the previous one while its rotation grace lasts (two ``v1`` signatures)."""
    found = [row.secret]
    if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
        found.append(row.previous_secret)
    return found


class _NoEndpoints:
    """Tenants seen without an enabled endpoint, for a few seconds: most tenants have none, and
    staging an event for them should cost no query. This process forgets a tenant at once when
    it registers or changes an endpoint; other processes within ``webhook_endpoint_cache_seconds``.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def known(self, tenant_id: str) -> bool:
        until = self._until.get(tenant_id)
        return until is not None and until > time.monotonic()

    def remember(self, tenant_id: str) -> None:
        seconds = get_settings().webhook_endpoint_cache_seconds
        if seconds <= 0:
            return
        with self._lock:
            if len(self._until) >= 10_000:  # bounded: drop the lot rather than track ages
                self._until.clear()
            self._until[tenant_id] = time.monotonic() + seconds

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._until.pop(tenant_id, None)


_no_endpoints = _NoEndpoints()


def _loopback_hint(url: str) -> str:
    """When only the loopback rule refused ``url``, the setting that lifts it (for development)."""
    if get_settings().webhook_allow_loopback:
        return ""
    try:
        EgressGuard(allow_loopback=True).check(url)
    except EgressRefused:
        return ""
    return "; a loopback address: set IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK=true to allow it in development"


class EndpointService:
    """Endpoints, per-job subscriptions and signing secrets; a part of ``WebhookService``."""

    # --- the egress guard ---------------------------------------------------------------------
    def guard(self) -> EgressGuard:
        return EgressGuard(allow_loopback=get_settings().webhook_allow_loopback)

    def check_url(self, url: str, *, field: str) -> str:
        """Refuse a URL we would never call, naming the request field (a 422 at registration)."""
        try:
            self.guard().check(url)
        except EgressRefused as exc:
            raise ValidationFailed(field, exc.reason + _loopback_hint(url)) from exc
        return url

    # --- tenant endpoints ---------------------------------------------------------------------
    def to_read(self, endpoint: WebhookEndpoint) -> WebhookEndpointRead:
        return WebhookEndpointRead(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=[WebhookEventType(t) for t in endpoint.event_types],
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            failed_deliveries=endpoint.failed_deliveries,
            secret_hint=secret_hint(endpoint.secret),
            previous_secret_expires_at=endpoint.previous_secret_expires_at
            if endpoint.previous_secret
            else None,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )

    def _with_secret(self, endpoint: WebhookEndpoint) -> WebhookEndpointWithSecret:
        return WebhookEndpointWithSecret(**self.to_read(endpoint).model_dump(), secret=endpoint.secret)

    def get_endpoint(self, session: Session, *, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = webhook_repository.endpoint(session, endpoint_id=endpoint_id, tenant_id=tenant_id)
        if endpoint is None:  # another tenant's endpoint is indistinguishable from a missing one
            raise NotFound(f"No webhook endpoint {endpoint_id}")
        return endpoint

    def list_endpoints(self, session: Session, *, tenant_id: str) -> list[WebhookEndpointRead]:
        return [self.to_read(e) for e in webhook_repository.endpoints(session, tenant_id=tenant_id)]

    def create_endpoint(
        self, session: Session, *, tenant_id: str, data: WebhookEndpointCreate
    ) -> WebhookEndpointWithSecret:
        """Register an endpoint; its secret is in this answer and never again."""
        self.check_url(data.url, field="url")
        if len(webhook_repository.endpoints(session, tenant_id=tenant_id)) >= MAX_ENDPOINTS:
            raise Conflict(f"A tenant may register at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint = WebhookEndpoint(
            tenant_id=tenant_id,
            url=data.url,
            description=data.description,
            event_types=sorted({t.value for t in data.event_types}),
            enabled=data.enabled,
            disabled_reason=None if data.enabled else "created disabled",
            disabled_at=None if data.enabled else utcnow(),
            secret=new_secret(),
        )
        session.add(endpoint)
        session.commit()
        _no_endpoints.forget(tenant_id)
        log.info("webhook.endpoint_created", tenant_id=tenant_id, endpoint_id=endpoint.id)
        return self._with_secret(endpoint)

    def update_endpoint(
        self, session: Session, *, tenant_id: str, endpoint_id: str, patch: WebhookEndpointPatch
    ) -> WebhookEndpointRead:
        if patch.url is not None:  # resolved before the transaction opens (SQLite: its write lock)
            self.check_url(patch.url, field="url")
        endpoint = self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        if patch.url is not None:
            endpoint.url = patch.url
        if patch.description is not None:
            endpoint.description = patch.description
        if patch.event_types is not None:
            endpoint.event_types = sorted({t.value for t in patch.event_types})
        if patch.enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.disabled_reason = None
            endpoint.disabled_at = None
            endpoint.failed_deliveries = 0
        elif patch.enabled is False and endpoint.enabled:
            self.disable(endpoint, "disabled through the API")
        session.commit()
        _no_endpoints.forget(tenant_id)
        return self.to_read(endpoint)

    def delete_endpoint(self, session: Session, *, tenant_id: str, endpoint_id: str) -> None:
        """Remove an endpoint with its delivery log; pending deliveries to it are dropped."""
        session.delete(self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id))
        session.commit()

    def rotate_endpoint_secret(
        self, session: Session, *, tenant_id: str, endpoint_id: str, grace_seconds: int
    ) -> WebhookEndpointWithSecret:
        """A new secret, shown once; the old one keeps signing too for ``grace_seconds``."""
        endpoint = self.get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
        self._rotate(endpoint, grace_seconds)
        session.commit()
        return self._with_secret(endpoint)

    def _rotate(self, row: RotatingSecret, grace_seconds: int) -> None:
        row.previous_secret = row.secret if grace_seconds else None
        row.previous_secret_expires_at = (
            utcnow() + timedelta(seconds=grace_seconds) if grace_seconds else None
        )
        row.secret = new_secret()

    def disable(self, endpoint: WebhookEndpoint, reason: str) -> None:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        endpoint.disabled_at = utcnow()
        log.warning("webhook.endpoint_disabled", endpoint_id=endpoint.id, reason=reason)

    # --- the tenant's secret for per-job webhook_url --------------------------------------------
    def signing_secret_row(self, session: Session, *, tenant_id: str) -> WebhookSigningSecret:
        row = webhook_repository.signing_secret(session, tenant_id=tenant_id)
        if row is not None:
            return row
        nested = session.begin_nested()
        row = WebhookSigningSecret(tenant_id=tenant_id, secret=new_secret())
        session.add(row)
        try:
            nested.commit()
            return row
        except IntegrityError:  # a concurrent request created it first
            nested.rollback()
            found = webhook_repository.signing_secret(session, tenant_id=tenant_id)
            assert found is not None
            return found

    def signing_secret(self, session: Session, *, tenant_id: str) -> SigningSecretRead:
        """The secret in the first read's answer (the row locked, so two reads cannot both show it),
        its hint afterwards: a leaked API key does not hand over the secret too."""
        row = self.signing_secret_row(session, tenant_id=tenant_id)
        reveal = webhook_repository.mark_signing_secret_revealed(session, tenant_id=tenant_id)
        session.commit()
        return SigningSecretRead(
            secret=row.secret if reveal else None,
            secret_hint=secret_hint(row.secret),
            previous_secret_expires_at=row.previous_secret_expires_at if row.previous_secret else None,
        )

    def rotate_signing_secret(
        self, session: Session, *, tenant_id: str, grace_seconds: int
    ) -> SigningSecretRead:
        """A new secret, in this answer only; the old one keeps signing too for ``grace_seconds``."""
        row = self.signing_secret_row(session, tenant_id=tenant_id)
        self._rotate(row, grace_seconds)
        row.revealed_at = utcnow()
        session.commit()
        return SigningSecretRead(
            secret=row.secret,
            secret_hint=secret_hint(row.secret),
            previous_secret_expires_at=row.previous_secret_expires_at,
        )

    def reseal_secrets(self, session: Session) -> int:
        """Seal every stored signing secret again with the first key (after adding one); returns the rows."""
        rows = webhook_repository.rows_with_secrets(session)
        for row in rows:
            # Loaded plain (any key opens it), written sealed with the first key.
            flag_modified(row, "secret")
            if row.previous_secret is not None:
                flag_modified(row, "previous_secret")
        session.commit()
        return len(rows)

    # --- per-job webhooks -----------------------------------------------------------------------
    def job_webhook(self, *, url: str | None, events: Sequence[str] | None) -> JobWebhookCreate | None:
        """Validate a studio request's ``webhook_url`` and ``webhook_events`` (repeat or comma-separate)."""
        names = [e.strip() for raw in events or () for e in raw.split(",") if e.strip()]
        if not url:
            if names:
                raise ValidationFailed("webhook_events", "give webhook_url too")
            return None
        self.check_url(url, field="webhook_url")
        try:
            types = [WebhookEventType(name) for name in dict.fromkeys(names)]
        except ValueError as exc:
            allowed = ", ".join(t.value for t in WebhookEventType)
            raise ValidationFailed("webhook_events", f"choose from {allowed}") from exc
        return JobWebhookCreate(url=url, event_types=types)

    def subscribe_job(
        self, session: Session, *, tenant_id: str, job_id: str, webhook: JobWebhookCreate
    ) -> None:
        """Attach a request's webhook to its job (in the job's transaction)."""
        self.signing_secret_row(session, tenant_id=tenant_id)
        session.add(
            JobWebhook(
                job_id=job_id,
                tenant_id=tenant_id,
                url=webhook.url,
                event_types=sorted({t.value for t in webhook.event_types}),
            )
        )
        session.flush()

    def enabled_endpoints(self, session: Session, *, tenant_id: str) -> Sequence[WebhookEndpoint]:
        """The tenant's enabled endpoints; none, without a query, while it is known to have none."""
        if _no_endpoints.known(tenant_id):
            return ()
        endpoints = webhook_repository.enabled_endpoints(session, tenant_id=tenant_id)
        if not endpoints:
            _no_endpoints.remember(tenant_id)
        return endpoints

    # --- per-job targets (a webhook_url's health) -----------------------------------------------
    def target_refusal(self, session: Session, *, tenant_id: str, url: str) -> str | None:
        """Why a per-job delivery to ``url`` is not attempted (its target is disabled), or None."""
        target = webhook_repository.target(session, tenant_id=tenant_id, url_hash=url_hash(url))
        if target is None or target.enabled:
            return None
        return (
            f"the webhook URL is disabled: {target.disabled_reason}; re-enable it with "
            f"PATCH /webhooks/targets/{target.id}"
        )

    def note_target_attempt(
        self, session: Session, *, tenant_id: str, url: str, ok: bool, error: str | None
    ) -> None:
        """Count a per-job attempt's outcome against its target (in the attempt's transaction);
        past ``WEBHOOK_DISABLE_TARGET_AFTER_FAILED_ATTEMPTS`` failures in a row it is disabled."""
        key = url_hash(url)
        target = webhook_repository.target(session, tenant_id=tenant_id, url_hash=key, for_update=True)
        if ok:
            if target is not None and target.failed_attempts:
                target.failed_attempts = 0
            return
        if target is None:
            target = self._new_target(session, tenant_id=tenant_id, url=url, key=key)
        target.failed_attempts += 1
        target.last_error = error
        limit = get_settings().webhook_disable_target_after_failed_attempts
        if target.enabled and target.failed_attempts >= limit:
            target.enabled = False
            target.disabled_at = utcnow()
            target.disabled_reason = f"{target.failed_attempts} attempts in a row failed (last: {error})"
            log.warning("webhook.target_disabled", tenant_id=tenant_id, target_id=target.id, error=error)

    def _new_target(self, session: Session, *, tenant_id: str, url: str, key: str) -> WebhookTarget:
        nested = session.begin_nested()
        target = WebhookTarget(tenant_id=tenant_id, url_hash=key, url=url, failed_attempts=0, enabled=True)
        session.add(target)
        try:
            nested.commit()
            return target
        except IntegrityError:  # another attempt to the same URL recorded it first
            nested.rollback()
            found = webhook_repository.target(session, tenant_id=tenant_id, url_hash=key, for_update=True)
            assert found is not None
            return found

    def target_to_read(self, target: WebhookTarget) -> WebhookTargetRead:
        return WebhookTargetRead.model_validate(target, from_attributes=True)

    def list_targets(self, session: Session, *, tenant_id: str) -> list[WebhookTargetRead]:
        """The tenant's per-job webhook URLs with failures on record, disabled ones first."""
        rows = webhook_repository.targets(session, tenant_id=tenant_id, limit=MAX_TARGETS_LISTED)
        return [self.target_to_read(t) for t in rows]

    def update_target(
        self, session: Session, *, tenant_id: str, target_id: str, enabled: bool
    ) -> WebhookTargetRead:
        """``enabled: true`` re-enables a disabled target and clears its count; false disables it."""
        target = webhook_repository.target_by_id(session, tenant_id=tenant_id, target_id=target_id)
        if target is None:  # another tenant's target is indistinguishable from a missing one
            raise NotFound(f"No webhook target {target_id}")
        if enabled and not target.enabled:
            target.enabled, target.disabled_reason, target.disabled_at = True, None, None
            target.failed_attempts = 0
        elif not enabled and target.enabled:
            target.enabled, target.disabled_reason, target.disabled_at = (
                False,
                "disabled through the API",
                utcnow(),
            )
        session.commit()
        return self.target_to_read(target)
