"""Standard Webhooks signing through the maintained ``standardwebhooks`` library (no HMAC of ours)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

#: Standard Webhooks' prefix for symmetric (HMAC-SHA256) secrets.
SECRET_PREFIX = "whsec_"
#: Random bytes per secret (the spec asks for 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def signed_headers(
    signing_secrets: Sequence[str], *, msg_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """The three ``webhook-*`` headers; one ``v1`` signature per secret (old and new while rotating)."""
    signature = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in signing_secrets
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(timestamp.timestamp())),
        "webhook-signature": signature,
    }
