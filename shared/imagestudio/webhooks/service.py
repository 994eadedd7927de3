"""The webhooks domain's one public face: ``webhook_service``, three services composed.

Each job lives in its own module: ``endpoints.py`` (endpoints, per-job subscriptions, signing
secrets, the egress guard), ``staging.py`` (deliveries and their messages staged with the job
transition, the sweeper) and ``delivery.py`` (claim, attempt, record, retry; the delivery log),
which sends through ``sending.py`` (the signed POST). Staging and delivery are handed the one
``EndpointService``, so the guard a request uses is the one a send uses.
"""

from __future__ import annotations

from imagestudio.webhooks.delivery import DeliveryService
from imagestudio.webhooks.endpoints import EndpointService
from imagestudio.webhooks.staging import StagingService

__all__ = ["WebhookService", "webhook_service"]


class WebhookService:
    """Endpoints, staging, delivery and the delivery log, one service each (see the modules named above)."""

    def __init__(self) -> None:
        self.endpoints = EndpointService()
        self.staging = StagingService(self.endpoints)
        self.delivery = DeliveryService(self.endpoints, self.staging)


webhook_service = WebhookService()
