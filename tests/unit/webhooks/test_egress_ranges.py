"""The egress guard refuses every special-purpose range, by its own table, not Python's flags.

Two tables are checked against each other: the guard's (``imagestudio.egress``), and here, typed
again from IANA's IPv4 and IPv6 Special-Purpose Address Registries, every entry, so a range
dropped from the code fails. Only the classification is exercised: no traffic is sent (the
global addresses accepted below are never connected to).
"""

from __future__ import annotations

import ipaddress
import re
import socket

import httpx
import pytest
from support import Embedded

from imagestudio.egress import (
    CLOUD_METADATA,
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    EgressGuard,
    EgressRefused,
    GuardedTransport,
    Reserved,
    refusal,
)

API = "/api/image-studio"

#: IANA IPv4 Special-Purpose Address Registry (address block, RFC), every entry.
IANA_IPV4 = [
    ("0.0.0.0/8", "RFC 791"),
    ("0.0.0.0/32", "RFC 1122"),
    ("10.0.0.0/8", "RFC 1918"),
    ("100.64.0.0/10", "RFC 6598"),
    ("127.0.0.0/8", "RFC 1122"),
    ("169.254.0.0/16", "RFC 3927"),
    ("172.16.0.0/12", "RFC 1918"),
    ("192.0.0.0/24", "RFC 6890"),
    ("192.0.0.0/29", "RFC 7335"),
    ("192.0.0.8/32", "RFC 7600"),
    ("192.0.0.9/32", "RFC 7723"),
    ("192.0.0.10/32", "RFC 8155"),
    ("192.0.0.170/32", "RFC 8880"),
    ("192.0.0.171/32", "RFC 8880"),
    ("192.0.2.0/24", "RFC 5737"),
    ("192.31.196.0/24", "RFC 7535"),
    ("192.52.193.0/24", "RFC 7450"),
    ("192.88.99.0/24", "RFC 7526"),
    ("192.88.99.2/32", "RFC 6751"),
    ("192.168.0.0/16", "RFC 1918"),
    ("192.175.48.0/24", "RFC 7534"),
    ("198.18.0.0/15", "RFC 2544"),
    ("198.51.100.0/24", "RFC 5737"),
    ("203.0.113.0/24", "RFC 5737"),
    ("240.0.0.0/4", "RFC 1112"),
    ("255.255.255.255/32", "RFC 8190"),
]
#: IANA IPv6 Special-Purpose Address Registry, every entry but the three carrying IPv4 (below).
IANA_IPV6 = [
    ("::1/128", "RFC 4291"),
    ("::/128", "RFC 4291"),
    ("64:ff9b:1::/48", "RFC 8215"),
    ("100::/64", "RFC 6666"),
    ("100:0:0:1::/64", "RFC 9780"),
    ("2001::/23", "RFC 2928"),
    ("2001::/32", "RFC 4380"),
    ("2001:1::1/128", "RFC 7723"),
    ("2001:1::2/128", "RFC 8155"),
    ("2001:1::3/128", "RFC 9665"),
    ("2001:2::/48", "RFC 5180"),
    ("2001:3::/32", "RFC 7450"),
    ("2001:4:112::/48", "RFC 7535"),
    ("2001:10::/28", "RFC 4843"),
    ("2001:20::/28", "RFC 7343"),
    ("2001:30::/28", "RFC 9374"),
    ("2001:db8::/32", "RFC 3849"),
    ("2620:4f:8000::/48", "RFC 7534"),
    ("3fff::/20", "RFC 9637"),
    ("5f00::/16", "RFC 9602"),
    ("fc00::/7", "RFC 4193"),
    ("fe80::/10", "RFC 4291"),
]
#: Registry entries that carry an IPv4 address, judged by it: IPv4-mapped, NAT64, 6to4.
IANA_CARRYING_IPV4 = [("::ffff:0:0/96", "RFC 4291"), ("64:ff9b::/96", "RFC 6052"), ("2002::/16", "RFC 3056")]
#: Beyond the registries: multicast, deprecated site-local, IPv4-compatible and -translated forms.
OTHER_REFUSED = [
    ("224.0.0.0/4", "RFC 5771"),
    ("ff00::/8", "RFC 4291"),
    ("fec0::/10", "RFC 3879"),
    ("::/96", "RFC 4291"),
    ("::ffff:0:0:0/96", "RFC 2765"),
]
#: Cloud metadata and host-agent addresses (the vendors' documentation).
METADATA = [
    "169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "168.63.129.16",
    "100.100.100.200",
    "192.0.0.192",
]
#: The forms the issue found accepted.
FOUND = [
    "http://[::ffff:0:a9fe:a9fe]/",
    "http://192.0.0.192/",
    "http://168.63.129.16/",
    "http://[fec0::1]/",
    "http://[fec0:0:0:ffff::1]/",
]
#: Ordinary public addresses, some right next to a refused range: classified allowed, never called.
GLOBAL = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.128.0.1",  # after 100.64.0.0/10
    "168.63.129.15",  # next to Azure's wire server
    "192.0.1.1",  # after 192.0.0.0/24
    "198.20.0.1",  # after 198.18.0.0/15
    "223.255.255.254",  # below multicast
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2001:200::1",  # after 2001::/23
    "2a00:1450:4001:81c::200e",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "::ffff:8.8.8.8",
]


def samples(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The first, a middle and the last address of ``network``."""
    first, last = int(network.network_address), int(network.broadcast_address)
    kind = type(network.network_address)
    return [str(kind(first)), str(kind((first + last) // 2)), str(kind(last))]


def refused(address: str, *, allow_loopback: bool = False) -> str | None:
    return refusal(ipaddress.ip_address(address), allow_loopback=allow_loopback)


def label(entry: Reserved | tuple[str, str]) -> str:
    return str(entry.network) if isinstance(entry, Reserved) else entry[0]


@pytest.mark.parametrize("entry", [*IANA_IPV4, *IANA_IPV6, *OTHER_REFUSED], ids=label)
def test_every_registry_entry_is_refused_first_middle_and_last(entry: tuple[str, str]) -> None:
    cidr, _ = entry
    network = ipaddress.ip_network(cidr)
    loopback = network.network_address in ipaddress.ip_network("127.0.0.0/8") or cidr == "::1/128"
    for address in samples(network):
        assert refused(address), address
        if not loopback:  # the development switch opens loopback only
            assert refused(address, allow_loopback=True), address


@pytest.mark.parametrize("entry", [*IPV4_SPECIAL, *IPV6_SPECIAL, *CLOUD_METADATA], ids=label)
def test_every_entry_of_the_guards_table_is_refused(entry: Reserved) -> None:
    for address in samples(entry.network):
        assert refused(address), address


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("::ffff:0:a9fe:a9fe", "IPv4-translated (SIIT), RFC 2765"),
        ("192.0.0.192", "cloud metadata address (Oracle Cloud metadata"),
        ("168.63.129.16", "cloud metadata address (Azure wire server"),
        ("fec0::1", "in fec0::/10 (Site-Local (deprecated), RFC 3879)"),
        ("198.19.255.255", "in 198.18.0.0/15 (Benchmarking, RFC 2544)"),
        ("192.0.0.9", "in 192.0.0.9/32 (Port Control Protocol Anycast, RFC 7723)"),
        ("2002:a9fe:a9fe::1", "carries 169.254.169.254, which is a cloud metadata address"),
    ],
)
def test_a_refusal_names_the_most_specific_range_and_its_rfc(address: str, named: str) -> None:
    reason = refused(address)
    assert reason is not None and named in reason, reason


def test_the_guards_tables_hold_every_registry_entry() -> None:
    ours = {(str(e.network), e.rfc.split(",")[0].split(" §")[0]) for e in (*IPV4_SPECIAL, *IPV6_SPECIAL)}
    typed = {(str(ipaddress.ip_network(c)), rfc) for c, rfc in [*IANA_IPV4, *IANA_IPV6, *OTHER_REFUSED]}
    assert typed - ours == set()
    carrying = {str(ipaddress.ip_network(c)) for c, _ in IANA_CARRYING_IPV4}
    assert carrying.isdisjoint(str(e.network) for e in IPV6_SPECIAL)  # judged by the IPv4 they carry


@pytest.mark.parametrize("address", METADATA)
def test_cloud_metadata_addresses_are_refused_as_such(address: str) -> None:
    for allow_loopback in (False, True):
        reason = refused(address, allow_loopback=allow_loopback)
        assert reason is not None and "cloud metadata" in reason, reason


@pytest.mark.parametrize("url", FOUND)
def test_the_forms_found_accepted_are_refused(url: str) -> None:
    for allow_loopback in (False, True):
        with pytest.raises(EgressRefused):
            EgressGuard(allow_loopback=allow_loopback).check(url)


@pytest.mark.parametrize("url", FOUND[:4])
def test_registering_a_found_form_is_a_422(embedded: Embedded, url: str) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/webhooks/endpoints", headers={"Authorization": f"Bearer {key}"}, json={"url": url}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "url"


@pytest.mark.parametrize("entry", IANA_CARRYING_IPV4, ids=label)
def test_ipv6_carrying_ipv4_is_judged_by_the_ipv4(entry: tuple[str, str]) -> None:
    cidr, _ = entry
    prefix = int(ipaddress.ip_network(cidr).network_address)
    shift = 80 if cidr == "2002::/16" else 0  # 6to4 holds the IPv4 in bits 16..48

    def carrying(ipv4: str) -> str:
        return str(ipaddress.IPv6Address(prefix | (int(ipaddress.IPv4Address(ipv4)) << shift)))

    for inner in ("169.254.169.254", "168.63.129.16", "192.0.0.192", "10.0.0.1", "198.18.0.1", "240.0.0.1"):
        assert refused(carrying(inner)), carrying(inner)
    assert refused(carrying("8.8.8.8")) is None


@pytest.mark.parametrize("address", ["1::1", "200::1", "400::1", "4000::1", "8000::1", "e000::1", "fe00::1"])
def test_ipv6_outside_global_unicast_is_refused(address: str) -> None:
    reason = refused(address)
    assert reason is not None and "2000::/3" in reason


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_are_allowed(address: str) -> None:
    assert refused(address) is None


def test_the_table_decides_not_pythons_is_global() -> None:
    # Python 3.11 calls these global; the registries (and the guard) do not.
    lagging = [
        a
        for a in ("::ffff:0:a9fe:a9fe", "fec0::1", "192.0.0.192", "3fff::1", "5f00::1")
        if ipaddress.ip_address(a).is_global
    ]
    assert lagging  # the reason the table exists: drop this line once no supported Python lags
    assert all(refused(a) for a in lagging)


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} must be refused before any lookup")


@pytest.mark.parametrize(
    "host",
    [
        "metadata.google.internal",
        "METADATA.Google.Internal.",
        "metadata.goog",
        "metadata",
        "instance-data",
        "anything.internal",
        "printer.local",
        "redis.default.svc.cluster.local",
        "router.home.arpa",
        "redis",
    ],
)
def test_metadata_and_private_names_are_refused_without_a_lookup(host: str) -> None:
    with pytest.raises(EgressRefused, match="host"):
        EgressGuard(allow_loopback=True, resolver=no_dns).check(f"http://{host}/hook")


def test_a_name_resolving_to_a_special_purpose_address_is_refused_before_connecting() -> None:
    for answer in ("192.0.0.192", "168.63.129.16", "::ffff:0:a9fe:a9fe", "fec0::1", "198.18.0.1"):
        guard = EgressGuard(allow_loopback=False, resolver=lambda host, port, a=answer: [a])
        inner = httpx.MockTransport(lambda request: pytest.fail("must not connect"))
        with (
            httpx.Client(transport=GuardedTransport(guard, inner)) as client,
            pytest.raises(EgressRefused, match=re.escape(answer)),
        ):
            client.post("https://hooks.example.com/x", content=b"{}")


def inet_aton(host: str, port: int) -> list[str]:
    """What the C library answers for a numeric host, parsed locally (no lookup leaves the host)."""
    return [socket.inet_ntoa(socket.inet_aton(host))]


@pytest.mark.parametrize(
    "host", ["127.1", "0x7f.1", "169.254.43518", "0xa9.0xfe.0xa9.0xfe", "2130706433", "0xa9fea9fe"]
)
def test_shorthand_numeric_hosts_are_judged_by_the_address_they_mean(host: str) -> None:
    with pytest.raises(EgressRefused):
        EgressGuard(allow_loopback=False, resolver=inet_aton).check(f"http://{host}/hook")
