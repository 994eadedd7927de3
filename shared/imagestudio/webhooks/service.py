"""The webhooks domain's one public face: ``webhook_service``.

Its jobs live in their own modules, each class building on the one before:
``endpoints.py`` (endpoints, per-job subscriptions, signing secrets, the egress guard) →
``staging.py`` (deliveries and their messages staged with the job transition, the sweeper) →
``delivery.py`` (claim, attempt, record, retry; the delivery log), which sends through
``sending.py`` (the signed POST). One instance serves them all, so the guard a request uses is
the one a send uses.
"""

from __future__ import annotations

from imagestudio.webhooks.delivery import DeliveryService

__all__ = ["WebhookService", "webhook_service"]


class WebhookService(DeliveryService):
    """Endpoints, staging, delivery and the delivery log (see the modules named above)."""


webhook_service = WebhookService()
