"""Images given by URL: the form such a URL must have, and the worker's guarded, capped fetch of it.

The gateway only reads the URL's form (``https://``, a host, no credentials) and, when the host is
an IP literal or a name only a private resolver answers, the egress guard's address policy; it
never connects. The worker fetches through :class:`~imagestudio.egress.GuardedTransport` (every
address the host resolves to checked, the connection pinned to it), within one deadline for the
whole exchange, following at most :data:`MAX_REDIRECTS` redirects, each checked again, and reading
at most ``max_bytes``; the caller then checks the bytes' header as it checks an upload's.
"""

from __future__ import annotations

import ipaddress

import httpx

from imagestudio.egress import (
    LOOPBACK,
    EgressGuard,
    EgressRefused,
    GuardedTransport,
    deadline_transport,
    name_refusal,
    refusal,
)
from imagestudio.errors import ImageTooLarge, RemoteImageRefused, RemoteImageUnreachable

#: Redirects followed from an image URL (each target checked by the guard like the first).
MAX_REDIRECTS = 3


def is_url(value: str) -> bool:
    """Whether an image field's text is a URL rather than an upload id (ids never hold ``://``)."""
    return "://" in value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in LOOPBACK)


def url_refusal(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot name an image, from its form and a literal host alone (no lookup), or None."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"is not a valid URL ({exc})"
    host = parsed.host
    if not host:
        return "is not a valid URL (no host)"
    if parsed.userinfo:
        return "must not carry credentials"
    loopback = _is_loopback(host)
    if loopback and not allow_loopback:
        return f"host {host} is loopback (allowed in development by IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK=true)"
    if not loopback:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            named = name_refusal(host)
            if named:
                return f"host {host} {named}"
        else:
            reason = refusal(literal, allow_loopback=allow_loopback)
            if reason:
                return f"{literal} {reason}"
    # Plain http only in development, only on loopback: elsewhere the image could be swapped in transit.
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        return "must be an https:// URL"
    return None


def fetch_image(
    url: str,
    *,
    field: str,
    max_bytes: int,
    timeout_seconds: float,
    allow_loopback: bool,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """The body at ``url``, at most ``max_bytes``; raises a problem naming ``field`` otherwise.

    ``RemoteImageRefused``: the URL or a redirect's target is malformed or reaches a refused address.
    ``RemoteImageUnreachable``: no answer in ``timeout_seconds`` (the whole exchange), a connection
    error, a status other than 200, or more than :data:`MAX_REDIRECTS` redirects.
    ``ImageTooLarge``: the body is over ``max_bytes`` (read no further than one chunk past it).
    """
    guard = EgressGuard(allow_loopback=allow_loopback)
    inner = transport or deadline_transport(timeout_seconds)
    current = url
    # Identity encoding: the byte cap then bounds what is held, with no decompression in between.
    client = httpx.Client(
        transport=GuardedTransport(guard, inner),
        timeout=timeout_seconds,
        headers={"accept-encoding": "identity"},
    )
    with client:
        for _ in range(MAX_REDIRECTS + 1):
            reason = url_refusal(current, allow_loopback=allow_loopback)
            if reason:
                raise RemoteImageRefused(field, f"{current} {reason}")
            try:
                with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        # Joined to the URL asked for: the guard pinned the request to an address.
                        current = str(httpx.URL(current).join(response.headers["location"]))
                        continue
                    if response.status_code != 200:
                        raise RemoteImageUnreachable(field, f"{current} answered {response.status_code}")
                    return _body(response, field=field, max_bytes=max_bytes)
            except EgressRefused as exc:
                if exc.permanent:
                    raise RemoteImageRefused(field, f"{current}: {exc.reason}") from None
                raise RemoteImageUnreachable(field, f"{current}: {exc.reason}") from None
            except httpx.TimeoutException:
                raise RemoteImageUnreachable(
                    field, f"{url} gave no file within {timeout_seconds:g} seconds"
                ) from None
            except httpx.HTTPError as exc:
                raise RemoteImageUnreachable(
                    field, f"{current} could not be fetched ({type(exc).__name__})"
                ) from None
    raise RemoteImageUnreachable(field, f"{url} redirected more than {MAX_REDIRECTS} times")


def _body(response: httpx.Response, *, field: str, max_bytes: int) -> bytes:
    too_large = ImageTooLarge(field, f"the file at the URL is over the {max_bytes:,} byte limit")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)
