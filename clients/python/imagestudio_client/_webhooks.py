"""Verify a webhook (Standard Webhooks signature, through the ``standardwebhooks`` library) and read its event."""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as _LibraryError

from imagestudio_client._errors import WebhookVerificationError
from imagestudio_client._models import WebhookEvent


class Webhooks:
    """Webhook helpers; needs no client (``imagestudio_client.webhooks.verify(...)``)."""

    def verify(self, payload: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
        """The event of a delivery whose ``webhook-signature`` matches ``secret`` (``whsec_...``).

        Pass the raw body as received (not re-serialised JSON) and the request's headers.
        Refused, with :class:`WebhookVerificationError`: a wrong secret or signature, a missing
        ``webhook-id``/``webhook-timestamp``, or a timestamp more than 5 minutes away (replays).
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            verifier = Webhook(secret)
        except Exception as exc:  # the library raises several types for a malformed secret
            raise WebhookVerificationError(
                "the secret is not a Standard Webhooks secret (whsec_...)"
            ) from exc
        try:
            body = verifier.verify(payload, lowered)
        except _LibraryError as exc:
            raise WebhookVerificationError(str(exc) or "the webhook's signature does not verify") from exc
        return WebhookEvent.model_validate(body)


#: The module-level helper: ``webhooks.verify(payload, headers, secret)``.
webhooks = Webhooks()
