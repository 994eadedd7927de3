"""Webhook endpoints, the per-job signing secret, and the delivery log (with redelivery)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from gateway.deps import PrincipalDep, ReadSessionDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.urls import API_PREFIX
from imagestudio.webhooks.models import DeliveryStatus
from imagestudio.webhooks.schemas import (
    DeliveryFilter,
    SecretRotate,
    SigningSecretRead,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointPatch,
    WebhookEndpointRead,
    WebhookEndpointWithSecret,
    WebhookTargetList,
    WebhookTargetPatch,
    WebhookTargetRead,
)
from imagestudio.webhooks.service import webhook_service

router = APIRouter(
    route_class=GuardedRoute, prefix="/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES
)

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: PROBLEM_RESPONSES[422] | {"description": "Not possible in the current state"}
}


@router.post("/endpoints", status_code=201, response_model=WebhookEndpointWithSecret, responses=_CONFLICT)
def create_endpoint(
    data: WebhookEndpointCreate, response: Response, session: SessionDep, principal: PrincipalDep
) -> WebhookEndpointWithSecret:
    """Register an endpoint; the answer holds its `whsec_` signing secret, shown this once."""
    created = webhook_service.endpoints.create_endpoint(session, tenant_id=principal.tenant_id, data=data)
    response.headers["Location"] = f"{API_PREFIX}/webhooks/endpoints/{created.id}"
    return created


@router.get("/endpoints", response_model=WebhookEndpointList)
def list_endpoints(session: ReadSessionDep, principal: PrincipalDep) -> WebhookEndpointList:
    """The tenant's endpoints, with why any is disabled."""
    return WebhookEndpointList(
        items=webhook_service.endpoints.list_endpoints(session, tenant_id=principal.tenant_id)
    )


@router.get("/endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
def get_endpoint(endpoint_id: str, session: ReadSessionDep, principal: PrincipalDep) -> WebhookEndpointRead:
    endpoint = webhook_service.endpoints.get_endpoint(
        session, tenant_id=principal.tenant_id, endpoint_id=endpoint_id
    )
    return webhook_service.endpoints.to_read(endpoint)


@router.patch("/endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
def update_endpoint(
    endpoint_id: str, patch: WebhookEndpointPatch, session: SessionDep, principal: PrincipalDep
) -> WebhookEndpointRead:
    """Change the URL, description or event filter; `enabled: true` re-enables a disabled endpoint."""
    return webhook_service.endpoints.update_endpoint(
        session, tenant_id=principal.tenant_id, endpoint_id=endpoint_id, patch=patch
    )


@router.delete("/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove an endpoint, its delivery log and any delivery still pending to it."""
    webhook_service.endpoints.delete_endpoint(session, tenant_id=principal.tenant_id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post(
    "/endpoints/{endpoint_id}/test", status_code=202, response_model=WebhookDeliveryRead, responses=_CONFLICT
)
def send_test_event(endpoint_id: str, session: SessionDep, principal: PrincipalDep) -> WebhookDeliveryRead:
    """Send a signed `webhook.test` event to the endpoint now; it shows in the delivery log like any
    other (limited with redeliveries, per minute)."""
    return webhook_service.delivery.send_test(session, tenant_id=principal.tenant_id, endpoint_id=endpoint_id)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=WebhookEndpointWithSecret)
def rotate_endpoint_secret(
    endpoint_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    rotate: Annotated[SecretRotate | None, Body()] = None,
) -> WebhookEndpointWithSecret:
    """A new secret, shown once; the old one also signs during `grace_seconds` (default 24 h)."""
    return webhook_service.endpoints.rotate_endpoint_secret(
        session,
        tenant_id=principal.tenant_id,
        endpoint_id=endpoint_id,
        grace_seconds=(rotate or SecretRotate()).grace_seconds,
    )


@router.get("/default/secret", response_model=SigningSecretRead)
def get_signing_secret(session: SessionDep, principal: PrincipalDep) -> SigningSecretRead:
    """The secret that signs deliveries to a job's own `webhook_url` (one per tenant)."""
    return webhook_service.endpoints.signing_secret(session, tenant_id=principal.tenant_id)


@router.post("/default/secret/rotate", response_model=SigningSecretRead)
def rotate_signing_secret(
    session: SessionDep,
    principal: PrincipalDep,
    rotate: Annotated[SecretRotate | None, Body()] = None,
) -> SigningSecretRead:
    return webhook_service.endpoints.rotate_signing_secret(
        session, tenant_id=principal.tenant_id, grace_seconds=(rotate or SecretRotate()).grace_seconds
    )


@router.get("/deliveries", response_model=WebhookDeliveryPage)
def list_deliveries(
    session: ReadSessionDep,
    principal: PrincipalDep,
    job_id: str | None = None,
    endpoint_id: str | None = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> WebhookDeliveryPage:
    """Deliveries, newest first, each with its attempts (status code, latency, error) and next retry."""
    return webhook_service.delivery.page_deliveries(
        session,
        tenant_id=principal.tenant_id,
        limit=limit,
        filters=DeliveryFilter(
            job_id=job_id, endpoint_id=endpoint_id, status=status.value if status else None
        ),
        cursor=cursor,
    )


@router.get("/deliveries/{delivery_id}", response_model=WebhookDeliveryRead)
def get_delivery(delivery_id: str, session: ReadSessionDep, principal: PrincipalDep) -> WebhookDeliveryRead:
    return webhook_service.delivery.get_delivery(
        session, tenant_id=principal.tenant_id, delivery_id=delivery_id
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryRead,
    responses=_CONFLICT,
)
def redeliver(delivery_id: str, session: SessionDep, principal: PrincipalDep) -> WebhookDeliveryRead:
    """Send a delivery again with the same `webhook-id`, restarting its retry schedule.

    Limited per tenant (`IMAGESTUDIO_WEBHOOK_REDELIVERIES_PER_MINUTE`, 429 with `Retry-After`).
    """
    return webhook_service.delivery.redeliver(session, tenant_id=principal.tenant_id, delivery_id=delivery_id)


@router.get("/targets", response_model=WebhookTargetList)
def list_targets(session: ReadSessionDep, principal: PrincipalDep) -> WebhookTargetList:
    """Per-job `webhook_url`s with failed attempts on record, disabled ones first, with why."""
    return WebhookTargetList(
        items=webhook_service.endpoints.list_targets(session, tenant_id=principal.tenant_id)
    )


@router.patch("/targets/{target_id}", response_model=WebhookTargetRead)
def update_target(
    target_id: str, patch: WebhookTargetPatch, session: SessionDep, principal: PrincipalDep
) -> WebhookTargetRead:
    """`enabled: true` re-enables a per-job URL disabled after failed attempts (and clears its count)."""
    return webhook_service.endpoints.update_target(
        session, tenant_id=principal.tenant_id, target_id=target_id, enabled=patch.enabled
    )
