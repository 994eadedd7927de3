"""The egress guard: URLs we call on behalf of others must be http(s) and resolve only to public addresses.

A webhook URL is chosen by the tenant, so without a guard it is a request forgery primitive
against our own network (databases, the cloud metadata service). The guard runs at
registration, for a clear 422, and again on every request: ``GuardedTransport`` resolves the
host, checks every address and connects to the checked address itself (TLS still verifies the
hostname), so a DNS answer that changes between check and connect cannot reach inside.
A provider's result URL (an output on its CDN) is the provider's choice, not ours, and is
fetched through the same guard.

What is refused is written down here, one table per family, each range with the RFC that
defines it: every entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries (globally
reachable or not: no webhook lives on an anycast relay), multicast, the IPv6 space outside
global unicast ``2000::/3``, and the cloud metadata addresses (some of which, such as Azure's
wire server 168.63.129.16, are ordinary public addresses). Python's ``ipaddress`` flags
(``is_global``, ``is_private``) follow the registries with a lag that differs by Python version,
so they are not consulted. IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4,
Teredo, IPv4-compatible) are judged by the IPv4 address too.

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
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from imagestudio.telemetry.tracing import no_propagation

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Resolves (host, port) to IP address strings; injectable so tests need no DNS.
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Reserved:
    """One range we never call: the network, what it is and the document that defines it."""

    network: IPNetwork
    name: str
    rfc: str


def _table(*rows: tuple[str, str, str]) -> tuple[Reserved, ...]:
    return tuple(Reserved(ipaddress.ip_network(cidr), name, rfc) for cidr, name, rfc in rows)


#: The IANA IPv4 Special-Purpose Address Registry, every entry (nested ones too, so a refusal
#: names the most specific), and the rest of IPv4 that is not unicast.
IPV4_SPECIAL = _table(
    ("0.0.0.0/8", '"This network"', "RFC 791 §3.2"),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122 §3.2.1.3"),
    ("10.0.0.0/8", "Private-Use", "RFC 1918"),
    ("100.64.0.0/10", "Shared Address Space (carrier-grade NAT)", "RFC 6598"),
    ("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3"),
    ("169.254.0.0/16", "Link Local", "RFC 3927"),
    ("172.16.0.0/12", "Private-Use", "RFC 1918"),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix (DS-Lite)", "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "Automatic Multicast Tunneling", "RFC 7450"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751"),
    ("192.168.0.0/16", "Private-Use", "RFC 1918"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "Multicast", "RFC 5771"),
    ("240.0.0.0/4", "Reserved", "RFC 1112 §4"),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7"),
)

#: The IANA IPv6 Special-Purpose Address Registry, every entry except the three that carry an
#: IPv4 address (IPv4-mapped ``::ffff:0:0/96``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``: judged
#: by that address, see :func:`embedded_ipv4`; a NAT64 network reaches public IPv4 sites only
#: through ``64:ff9b::/96``), plus the deprecated and multicast blocks. The rest of the space
#: outside ``2000::/3`` is refused by :data:`IPV6_GLOBAL_UNICAST`.
IPV6_SPECIAL = _table(
    ("::/128", "Unspecified Address", "RFC 4291"),
    ("::1/128", "Loopback Address", "RFC 4291"),
    ("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)", "RFC 2765 §2.1"),
    ("64:ff9b:1::/48", "Local-use IPv4/IPv6 Translation", "RFC 8215"),
    ("100::/64", "Discard-Only Address Block", "RFC 6666"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
    ("2001::/32", "TEREDO", "RFC 4380, RFC 8190"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
    ("2001:2::/48", "Benchmarking", "RFC 5180"),
    ("2001:3::/32", "Automatic Multicast Tunneling", "RFC 7450"),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags", "RFC 9374"),
    ("2001:db8::/32", "Documentation", "RFC 3849"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
    ("3fff::/20", "Documentation", "RFC 9637"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190"),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
    ("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
    ("ff00::/8", "Multicast", "RFC 4291 §2.7"),
)

#: The only IPv6 space allocated for global unicast; anything else is reserved by the IETF.
IPV6_GLOBAL_UNICAST = Reserved(ipaddress.ip_network("2000::/3"), "Global Unicast", "RFC 4291 §2.4")

#: Cloud metadata and host-agent addresses, listed even where a range above covers them, so the
#: refusal says what the address is (and so 168.63.129.16, a public address, is refused at all).
CLOUD_METADATA = _table(
    ("169.254.169.254/32", "instance metadata (AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean)", "vendor"),
    ("169.254.170.2/32", "AWS ECS task metadata and credentials", "vendor"),
    ("169.254.0.23/32", "Tencent Cloud metadata", "vendor"),
    ("fd00:ec2::254/128", "AWS instance metadata over IPv6", "vendor"),
    ("fd20:ce::254/128", "GCP metadata server over IPv6", "vendor"),
    ("168.63.129.16/32", "Azure wire server and host agent", "vendor"),
    ("100.100.100.200/32", "Alibaba Cloud metadata", "vendor"),
    ("192.0.0.192/32", "Oracle Cloud metadata", "vendor"),
)

#: Host names of metadata services, refused before any lookup (their resolvers answer with the
#: addresses above, which are refused too; the name gives the clearer reason).
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
#: Name suffixes that only a private resolver answers: ICANN's private-use ``.internal`` (2024),
#: multicast DNS ``.local`` (RFC 6762), home networks ``home.arpa`` (RFC 8375).
PRIVATE_NAME_SUFFIXES = (".internal", ".local", ".home.arpa")

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


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


def special_purpose(address: IPAddress) -> Reserved | None:
    """The most specific listed range (metadata first, then special-purpose) holding ``address``."""
    for entry in CLOUD_METADATA:
        if address in entry.network:
            return entry
    table = IPV4_SPECIAL if isinstance(address, ipaddress.IPv4Address) else IPV6_SPECIAL
    matches = [entry for entry in table if address in entry.network]
    return max(matches, key=lambda entry: entry.network.prefixlen) if matches else None


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        else:
            # A translated or tunnelled address reaches its IPv4 address: apply the IPv4 rules to
            # it. Its loopback is never ours, so the loopback allowance does not extend to it.
            for inner in embedded_ipv4(address):
                reason = refusal(inner, allow_loopback=False)
                if reason:
                    return f"carries {inner}, which {reason}"
            if address in NAT64_WELL_KNOWN:
                return None  # the IPv4 rules decided
    if allow_loopback and any(address in network for network in LOOPBACK):
        return None
    entry = special_purpose(address)
    if entry is not None:
        what = "a cloud metadata address" if entry in CLOUD_METADATA else f"in {entry.network}"
        return f"is {what} ({entry.name}, {entry.rfc})"
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST.network:
        return f"is outside {IPV6_GLOBAL_UNICAST.network}, the only global unicast space ({IPV6_GLOBAL_UNICAST.rfc})"
    return None


def name_refusal(host: str) -> str | None:
    """Why a host name may not be called before it is even resolved, or None."""
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        return "is a cloud metadata service name"
    if name.endswith(PRIVATE_NAME_SUFFIXES):
        return "is a private-use name (.internal, .local, .home.arpa)"
    if "." not in name and name != "localhost":
        # A single label resolves through the search domains (in Kubernetes, cluster services).
        return "is not a fully qualified name"
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
            named = name_refusal(host)
            if named:
                raise EgressRefused(f"host {host} {named}")
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
    """Checks each request with the guard and connects to the checked address (no DNS rebinding).

    The request carries no ``traceparent``, ``tracestate`` or ``baggage`` (see
    :func:`imagestudio.telemetry.tracing.no_propagation`); its client span is still recorded.
    """

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
        # The address is a tenant's or a provider's choice: our trace context stays with us.
        with no_propagation():
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
