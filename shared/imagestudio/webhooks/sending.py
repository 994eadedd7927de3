"""Sending one attempt: the event body with fresh output links, signed, POSTed through the egress guard.

Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) come from
``signing.py``; no redirect is followed, and each attempt has a total deadline
(``webhook_attempt_deadline_seconds``) so a receiver trickling bytes is cut off.

The attempt log is shown to the tenant, so it keeps little of the answer (were a URL ever to
reach an internal service, the log must not read it back): the status code; of a 2xx or 3xx
body nothing (a redirect names only the origin it points to); of a failure at most
``RESPONSE_EXCERPT_CHARS`` printable characters of a plain-text or JSON body.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.config import get_settings
from imagestudio.db import utcnow
from imagestudio.egress import EgressGuard, EgressRefused, GuardedTransport, deadline_transport
from imagestudio.webhooks.models import WebhookDelivery, WebhookEventType
from imagestudio.webhooks.signing import signed_headers

USER_AGENT = "ImageStudio-Webhooks/1"
#: Standard Webhooks asks for payloads under 20 kB; outputs past the budget are left to GET /jobs/{id}.
MAX_PAYLOAD_BYTES = 20_000
#: Bytes of a failed receiver's answer read for the attempt log, and printable characters kept.
RESPONSE_READ_BYTES = 256
RESPONSE_EXCERPT_CHARS = 64
#: Content types whose failure bodies are excerpted; of any other body nothing is kept.
EXCERPTED_TYPES = ("text/plain", "application/json", "application/problem+json")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: the schedule's own delay is good enough


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt produced."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    #: No retry can help (the egress guard refused the address).
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(session: Session, delivery: WebhookDelivery) -> str:
    """The exact bytes to sign and send: the staged event, with output links signed afresh."""
    payload = json.loads(json.dumps(delivery.payload))
    if delivery.event_type == WebhookEventType.succeeded and delivery.job_id:
        outputs = asset_service.outputs_for_jobs(session, job_ids=[delivery.job_id])[delivery.job_id]
        data = payload["data"]
        data["outputs"], data["outputs_truncated"] = [], False
        budget = MAX_PAYLOAD_BYTES - len(_dump(payload).encode()) - len(',"outputs_truncated":true')
        for output in outputs:
            item = {
                "name": output.name,
                "kind": output.kind,
                "content_type": output.content_type,
                "width": output.width,
                "height": output.height,
                "url": output.url,
                "expires_at": output.expires_at.isoformat(),
            }
            size = len(_dump(item).encode()) + 1
            if size > budget:
                data["outputs_truncated"] = True
                break
            data["outputs"].append(item)
            budget -= size
    return _dump(payload)


def send(
    guard: EgressGuard,
    *,
    url: str,
    signing_secrets: list[str],
    msg_id: str,
    body: str,
    transport: httpx.BaseTransport | None,
) -> Outcome:
    settings = get_settings()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",
        **signed_headers(signing_secrets, msg_id=msg_id, timestamp=utcnow(), body=body),
    }
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    deadline = settings.webhook_attempt_deadline_seconds
    try:
        with (
            httpx.Client(
                transport=GuardedTransport(guard, transport or deadline_transport(deadline)),
                timeout=min(settings.webhook_timeout_seconds, deadline),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            client.stream("POST", url, content=body.encode(), headers=headers) as response,
        ):
            code = response.status_code
            error, excerpt = None, None
            if 300 <= code < 400:
                error = f"redirect to {_origin(response.headers.get('location', ''))} not followed"
            elif not 200 <= code < 300:
                error = f"HTTP {code}"
                excerpt = _excerpt(response)
            return Outcome(
                status_code=code,
                latency_ms=elapsed(),
                error=error,
                excerpt=excerpt,
                retry_after=_retry_after(response.headers.get("retry-after")) if code in (429, 503) else None,
            )
    except EgressRefused as exc:
        return Outcome(None, elapsed(), error=f"refused: the URL {exc.reason}", permanent=exc.permanent)
    except httpx.TimeoutException as exc:
        # Recorded like any failure, so the schedule goes on (and ends) as for a 500.
        return Outcome(
            None,
            elapsed(),
            error=f"timeout: no complete answer within the {deadline:g} s attempt deadline "
            f"or the {settings.webhook_timeout_seconds:g} s operation timeout ({type(exc).__name__})",
        )
    except httpx.HTTPError as exc:
        return Outcome(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])


def _excerpt(response: httpx.Response) -> str | None:
    """At most ``RESPONSE_EXCERPT_CHARS`` printable characters of a plain-text or JSON failure body."""
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if (
        content_type not in EXCERPTED_TYPES
        or response.headers.get("content-encoding", "identity") != "identity"
    ):
        return None  # we ask for identity; a compressed body is not unpacked for a log line
    head = b""
    for chunk in response.iter_raw():
        head += chunk
        if len(head) >= RESPONSE_READ_BYTES:
            break
    return printable(head[:RESPONSE_READ_BYTES].decode("utf-8", "replace"), RESPONSE_EXCERPT_CHARS)


def _origin(location: str) -> str:
    """Where a redirect points, as an origin only (its path and query are the receiver's business)."""
    try:
        url = httpx.URL(location)
    except (httpx.InvalidURL, TypeError):
        return "an invalid location"
    if not url.host:
        return "a path on the same host"
    port = f":{url.port}" if url.port else ""
    return printable(f"{url.scheme}://{url.host}{port}", RESPONSE_EXCERPT_CHARS) or "?"


def printable(text: str, limit: int) -> str | None:
    """``text`` with runs of whitespace and control characters made one space, cut to ``limit``
    characters (an ellipsis marks the cut); None when nothing printable is left."""
    cleaned = " ".join("".join(c if c.isprintable() and c != "\ufffd" else " " for c in text).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned or None


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
