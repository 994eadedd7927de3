"""The API beside jobs for the synchronous client: webhook endpoints, templates, personas, assets.

Generated from ``_async_library.py`` by ``scripts/unasync_client.py``: edit that file, then run the script.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

from imagestudio_client._core import Call
from imagestudio_client._models import Asset, Persona, WebhookDelivery, WebhookEndpoint
from imagestudio_client._webhooks import Webhooks


class Requester(Protocol):
    """What a resource needs of the client: one call sent, retried, parsed."""

    def request(self, call: Call) -> Any: ...


def pages(client: Requester, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a cursor-paged list, fetching page after page as it goes."""
    cursor: str | None = None
    while True:
        page = client.request(Call("GET", path, params={**params, "cursor": cursor}))
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _grace(grace_seconds: int | None) -> dict[str, int] | None:
    return None if grace_seconds is None else {"grace_seconds": grace_seconds}


class WebhooksAPI(Webhooks):
    """Webhook endpoints, deliveries and the signing secret; ``verify`` needs no request."""

    def __init__(self, client: Requester) -> None:
        self._c = client

    def signing_secret(self, *, rotate_if_shown: bool = False) -> str | None:
        """The secret that signs deliveries to a job's own ``webhook_url``.

        The service shows it once (then keeps it encrypted): None after that, unless
        ``rotate_if_shown`` asks for a new one (the old one still verifies for 24 h).
        """
        shown = (self._c.request(Call("GET", "/webhooks/default/secret")))["secret"]
        if shown or not rotate_if_shown:
            return shown  # type: ignore[no-any-return]
        return self.rotate_signing_secret()

    def rotate_signing_secret(self, *, grace_seconds: int | None = None) -> str:
        """A new signing secret; the previous one also signs for ``grace_seconds`` (default 24 h)."""
        call = Call("POST", "/webhooks/default/secret/rotate", json=_grace(grace_seconds))
        return str((self._c.request(call))["secret"])

    def create_endpoint(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        """Register a URL for the tenant's job events; the answer's ``secret`` is shown this once."""
        body = {"url": url, "event_types": event_types, "description": description, "enabled": enabled}
        clean = {k: v for k, v in body.items() if v is not None}
        return WebhookEndpoint.model_validate(
            self._c.request(Call("POST", "/webhooks/endpoints", json=clean))
        )

    def list_endpoints(self) -> builtins.list[WebhookEndpoint]:
        answer = self._c.request(Call("GET", "/webhooks/endpoints"))
        return [WebhookEndpoint.model_validate(item) for item in answer["items"]]

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return WebhookEndpoint.model_validate(
            self._c.request(Call("GET", f"/webhooks/endpoints/{endpoint_id}"))
        )

    def update_endpoint(self, endpoint_id: str, **patch: Any) -> WebhookEndpoint:
        """Change an endpoint's ``url``, ``description``, ``event_types`` or ``enabled``."""
        call = Call("PATCH", f"/webhooks/endpoints/{endpoint_id}", json=patch)
        return WebhookEndpoint.model_validate(self._c.request(call))

    def disable_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to an endpoint (kept with its deliveries; ``enable_endpoint`` resumes)."""
        return self.update_endpoint(endpoint_id, enabled=False)

    def enable_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return self.update_endpoint(endpoint_id, enabled=True)

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._c.request(Call("DELETE", f"/webhooks/endpoints/{endpoint_id}"))

    def rotate_endpoint_secret(
        self, endpoint_id: str, *, grace_seconds: int | None = None
    ) -> WebhookEndpoint:
        """A new secret for an endpoint (in the answer's ``secret``); the old one also signs for ``grace_seconds``."""
        call = Call("POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret", json=_grace(grace_seconds))
        return WebhookEndpoint.model_validate(self._c.request(call))

    def deliveries(
        self,
        *,
        job_id: str | None = None,
        endpoint_id: str | None = None,
        status: Literal["pending", "succeeded", "failed"] | None = None,
        page_size: int = 100,
    ) -> Iterator[WebhookDelivery]:
        """Every delivery matching the filters, newest first, page after page."""
        params = {"job_id": job_id, "endpoint_id": endpoint_id, "status": status, "limit": page_size}
        for item in pages(self._c, "/webhooks/deliveries", params):
            yield WebhookDelivery.model_validate(item)

    def redeliver(self, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again, with the same ``webhook-id`` (receivers dedupe on it)."""
        call = Call("POST", f"/webhooks/deliveries/{delivery_id}/redeliver")
        return WebhookDelivery.model_validate(self._c.request(call))


class Templates:
    """The template catalogue a create job may name (``template_id``)."""

    def __init__(self, client: Requester) -> None:
        self._c = client

    def list(self, *, platform: str | None = None, category: str | None = None) -> dict[str, Any]:
        params = {"platform": platform, "category": category}
        return dict(self._c.request(Call("GET", "/templates", params=params)))

    def search(self, q: str, *, limit: int | None = None) -> dict[str, Any]:
        """Templates whose name, description or tags hold the words of ``q``."""
        return dict(self._c.request(Call("GET", "/templates/search", params={"q": q, "limit": limit})))

    def get(self, template_id: str) -> dict[str, Any]:
        return dict(self._c.request(Call("GET", f"/templates/{template_id}")))


class Personas:
    """Brand personas a create job may name (``persona_id``)."""

    def __init__(self, client: Requester) -> None:
        self._c = client

    def create(self, name: str, **fields: Any) -> Persona:
        """A persona: ``description``, ``tone``, ``palette``, ``style_keywords``, ``avoid``."""
        call = Call("POST", "/personas", json={"name": name, **fields})
        return Persona.model_validate(self._c.request(call))

    def list(self) -> builtins.list[Persona]:
        answer = self._c.request(Call("GET", "/personas"))
        return [Persona.model_validate(item) for item in answer["items"]]

    def get(self, persona_id: str) -> Persona:
        return Persona.model_validate(self._c.request(Call("GET", f"/personas/{persona_id}")))

    def update(self, persona_id: str, **patch: Any) -> Persona:
        call = Call("PATCH", f"/personas/{persona_id}", json=patch)
        return Persona.model_validate(self._c.request(call))

    def delete(self, persona_id: str) -> None:
        self._c.request(Call("DELETE", f"/personas/{persona_id}"))


class Assets:
    """The tenant's library of outputs: list, read, favourite, tag, delete, and the same in bulk."""

    def __init__(self, client: Requester) -> None:
        self._c = client

    def list(self, *, page_size: int = 100, **filters: Any) -> Iterator[Asset]:
        """Every asset matching the filters (``studio``, ``tag``, ``favorite``, ``q``, ...), page after page."""
        for item in pages(self._c, "/assets", {**filters, "limit": page_size}):
            yield Asset.model_validate(item)

    def get(self, asset_id: str) -> Asset:
        return Asset.model_validate(self._c.request(Call("GET", f"/assets/{asset_id}")))

    def favorite(self, asset_id: str, favorite: bool = True) -> Asset:
        """Mark an asset a favourite (or, with ``favorite=False``, no longer)."""
        call = Call("POST" if favorite else "DELETE", f"/assets/{asset_id}/favorite")
        return Asset.model_validate(self._c.request(call))

    def tag(self, asset_id: str, tags: Sequence[str]) -> Asset:
        """Set an asset's tags (the whole list)."""
        call = Call("PATCH", f"/assets/{asset_id}", json={"tags": list(tags)})
        return Asset.model_validate(self._c.request(call))

    def delete(self, asset_id: str) -> None:
        self._c.request(Call("DELETE", f"/assets/{asset_id}"))

    def bulk(
        self,
        action: Literal["favorite", "unfavorite", "tag", "untag", "delete"],
        ids: Sequence[str],
        *,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """One action over up to 100 assets; each id is answered on its own."""
        body: dict[str, Any] = {"action": action, "ids": list(ids)}
        if tags is not None:
            body["tags"] = list(tags)
        return dict(self._c.request(Call("POST", "/assets/bulk", json=body)))
