"""The egress guard: URLs we call on behalf of others must be http(s) and resolve only to public addresses.

A webhook URL is chosen by the tenant, so without a guard it is a request forgery primitive
against our own network (databases, the cloud metadata service). The guard runs at
registration, for a clear 422, and again on every request: ``GuardedTransport`` resolves the
host, checks every address and connects to the checked address itself (TLS still verifies the
hostname), so a DNS answer that changes between check and connect cannot reach inside.
A provider's result URL (an output on its CDN) is the provider's choice, not ours, and is
fetched through the same guard.

Usage::

    guard = EgressGuard(allow_loopback=False)
    guard.check("https://example.com/hook")          # raises EgressRefused
    client = httpx.Client(transport=GuardedTransport(guard))

httpx's timeouts bound each operation (connect, one write, one read), so a peer sending a byte
at a time holds a request for ever; ``deadline_transport(seconds)`` bounds the whole request,
response body included.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Resolves (host, port) to IP address strings; injectable so tests need no DNS.
Resolver = Callable[[str, int], list[str]]


class EgressRefused(Exception):
    """Raised when a webhook URL is not http(s) or reaches an address we never call.

    ``permanent`` is False only when the host did not resolve (DNS may recover).
    """

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


#: NAT64 well-known prefix: the last 32 bits are the IPv4 address (RFC 6052).
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
#: NAT64 local-use prefix (RFC 8215): where the IPv4 sits depends on the operator's prefix length,
#: so it cannot be unwrapped reliably and is refused whole.
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
#: IPv4-compatible addresses (deprecated by RFC 4291): ``::10.0.0.1`` carries 10.0.0.1.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and would reach (NAT64, 6to4, Teredo, compatible)."""
    if address in NAT64_WELL_KNOWN or (address in IPV4_COMPATIBLE and int(address) > 1):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:  # 2002::/16, the IPv4 in bits 16..48
        return [address.sixtofour]
    if address.teredo is not None:  # 2001::/32: the server, and the client (de-obfuscated)
        return list(address.teredo)
    return []


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        elif address in NAT64_LOCAL_USE:
            return "is a local-use NAT64 address"
        else:
            # A translated or tunnelled address reaches its IPv4 address: apply the IPv4 rules to
            # it. Its loopback is never ours, so the loopback allowance does not extend to it.
            for inner in embedded_ipv4(address):
                reason = refusal(inner, allow_loopback=False)
                if reason:
                    return f"carries {inner}, which {reason}"
            if address in IPV4_COMPATIBLE and int(address) > 1:
                return "is a deprecated IPv4-compatible address"
    if address.is_loopback:
        return None if allow_loopback else "is a loopback address"
    if address.is_link_local:
        return "is a link-local address (cloud metadata lives there)"
    if address.is_multicast or address.is_unspecified:
        return "is not a unicast address"
    # is_global excludes private, carrier-grade NAT (where some clouds keep metadata), reserved
    # and documentation ranges in one rule.
    if not address.is_global:
        return "is a private or reserved address"
    return None


class EgressGuard:
    """Decides whether a URL may be called and to which addresses."""

    def __init__(self, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_loopback = allow_loopback
        self._resolver = resolver

    def check(self, url: str) -> list[IPAddress]:
        """The addresses ``url`` resolves to, all allowed; raises EgressRefused otherwise."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise EgressRefused(f"is not a valid URL ({exc})") from exc
        if parsed.scheme not in ("http", "https"):
            raise EgressRefused("must be an http or https URL")
        if not parsed.host:
            raise EgressRefused("has no host")
        if parsed.userinfo:
            raise EgressRefused("must not carry credentials; use the signature to authenticate us")
        host = parsed.host
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [literal]
        else:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            try:
                candidates = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                raise EgressRefused(f"host {host} does not resolve", permanent=False) from exc
            if not candidates:
                raise EgressRefused(f"host {host} does not resolve", permanent=False)
        for address in candidates:
            reason = refusal(address, allow_loopback=self.allow_loopback)
            if reason:
                shown = str(address) if literal is not None else f"{host} resolves to {address}, which"
                raise EgressRefused(f"{shown} {reason}")
        return candidates


class GuardedTransport(httpx.BaseTransport):
    """Checks each request with the guard and connects to the checked address (no DNS rebinding)."""

    def __init__(self, guard: EgressGuard, transport: httpx.BaseTransport | None = None) -> None:
        self._guard = guard
        self._transport = transport or httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        addresses = self._guard.check(str(request.url))
        host = request.url.host
        pinned = str(addresses[0])
        if pinned != host:
            # The Host header was set from the original URL when the request was built; TLS keeps
            # verifying the certificate against the hostname through the SNI extension.
            request.url = request.url.copy_with(host=pinned)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return self._transport.handle_request(request)

    def close(self) -> None:
        self._transport.close()


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write gets no more time than is left before the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the request's total deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wrapped = self._inner.start_tls(
            ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(wrapped, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens connections that share one absolute deadline (``time.monotonic()`` seconds)."""

    def __init__(self, deadline: float) -> None:
        self._inner, self._deadline = httpcore.SyncBackend(), deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the request's total deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self._left(timeout), local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, self._left(timeout), socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport(seconds: float) -> httpx.HTTPTransport:
    """An HTTP transport whose requests all end within ``seconds`` from now, reading included.

    Past the deadline the next read or write raises ``httpx.ReadTimeout`` (or Write/Connect), so
    a peer trickling bytes cannot hold the caller; make one per request (the deadline is absolute).
    """
    transport = httpx.HTTPTransport(retries=0)
    # httpx takes no network backend; its pool is swapped for one built the same way with ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        retries=0,
        network_backend=_DeadlineBackend(time.monotonic() + seconds),
    )
    return transport
