"""The egress guard: only http(s) to public addresses, checked at registration and at send time."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from support import Embedded

from imagestudio.egress import EgressGuard, EgressRefused, GuardedTransport

API = "/api/image-studio"

REFUSED = [
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/hook",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://100.100.100.200/",  # carrier-grade NAT: Alibaba Cloud's metadata address
    "http://[fd00:ec2::254]/",  # AWS's IPv6 metadata address
    "http://0.0.0.0:8000/",
    "http://localhost/hook",
    "ftp://93.184.216.34/hook",
    "http://user:pw@93.184.216.34/hook",
    "not a url",
]


def public_dns(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34", "10.0.0.7"]}.get(
        host, ["127.0.0.1"]
    )


@pytest.mark.parametrize("url", REFUSED)
def test_guard_refuses_private_link_local_loopback_and_non_http(url: str) -> None:
    with pytest.raises(EgressRefused):
        EgressGuard(allow_loopback=False).check(url)


def test_loopback_is_allowed_only_by_the_setting_and_private_ranges_never() -> None:
    guard = EgressGuard(allow_loopback=True)
    assert [str(a) for a in guard.check("http://127.0.0.1:9/hook")] == ["127.0.0.1"]
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://192.168.1.1/"):
        with pytest.raises(EgressRefused):
            guard.check(url)


def test_one_private_answer_among_public_ones_refuses_the_host() -> None:
    guard = EgressGuard(allow_loopback=False, resolver=public_dns)
    assert [str(a) for a in guard.check("https://hooks.example.com/x")] == ["93.184.216.34"]
    with pytest.raises(EgressRefused, match="10.0.0.7"):
        guard.check("https://rebind.example.com/x")


def test_transport_connects_to_the_checked_address_keeping_host_and_sni() -> None:
    seen: list[httpx.Request] = []
    inner = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(204))
    guard = EgressGuard(allow_loopback=False, resolver=public_dns)
    with httpx.Client(transport=GuardedTransport(guard, inner)) as client:
        assert client.post("https://hooks.example.com:8443/x?y=1", content=b"{}").status_code == 204
    (request,) = seen
    assert request.url.host == "93.184.216.34" and request.url.port == 8443 and request.url.path == "/x"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_transport_refuses_a_dns_answer_that_turned_private_before_connecting() -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])
    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: next(answers))
    guard.check("http://flip.example.com/")  # registration saw a public address
    inner = httpx.MockTransport(lambda request: pytest.fail("must not connect"))
    with httpx.Client(transport=GuardedTransport(guard, inner)) as client, pytest.raises(EgressRefused):
        client.post("http://flip.example.com/", content=b"{}")


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/hook"]
)
def test_registering_a_private_address_is_a_422_naming_the_field(embedded: Embedded, url: str) -> None:
    key = embedded.new_key()
    response = embedded.client.post(
        f"{API}/webhooks/endpoints", headers={"Authorization": f"Bearer {key}"}, json={"url": url}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["field"] == "url" and body["detail"].startswith("url: ")
    assert body["errors"][0]["field"] == "url"


def _teredo(server: str, client: str) -> str:
    """A Teredo address (2001::/32): the server's IPv4, flags, port, the client's IPv4 inverted."""
    s, c = int(ipaddress.IPv4Address(server)), int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (s << 64) | (0x8000_63BF << 32) | c))


def _forms(ipv4: str) -> dict[str, str]:
    """Every IPv6 form that carries ``ipv4`` to the IPv4 network."""
    v4 = int(ipaddress.IPv4Address(ipv4))
    return {
        "nat64": str(ipaddress.IPv6Address((0x0064FF9B << 96) | v4)),
        "nat64-local-use": str(ipaddress.IPv6Address((0x0064FF9B0001 << 80) | v4)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (v4 << 80) | 1)),
        "teredo-client": _teredo("65.54.227.120", ipv4),
        "teredo-server": _teredo(ipv4, "93.184.216.34"),
        "ipv4-compatible": f"::{ipv4}",
        "ipv4-mapped": f"::ffff:{ipv4}",
    }


EMBEDDED_REFUSED = [
    (inner, form, address)
    for inner in ("169.254.169.254", "127.0.0.1", "10.0.0.1", "192.168.1.1", "100.100.100.200", "0.0.0.0")
    for form, address in _forms(inner).items()
]


@pytest.mark.parametrize(("inner", "form", "address"), EMBEDDED_REFUSED)
def test_ipv6_forms_carrying_a_private_ipv4_are_refused(inner: str, form: str, address: str) -> None:
    for allow_loopback in (False, True):
        if form == "ipv4-mapped" and inner == "127.0.0.1" and allow_loopback:
            continue  # ::ffff:127.0.0.1 is this host's own loopback
        with pytest.raises(EgressRefused):
            EgressGuard(allow_loopback=allow_loopback).check(f"http://[{address}]/hook")


@pytest.mark.parametrize("form", ["nat64", "6to4", "ipv4-mapped"])
def test_ipv6_forms_carrying_a_public_ipv4_are_allowed(form: str) -> None:
    address = _forms("93.184.216.34")[form]
    assert EgressGuard(allow_loopback=False).check(f"http://[{address}]/hook")


def test_a_host_resolving_to_nat64_metadata_is_refused() -> None:
    guard = EgressGuard(allow_loopback=False, resolver=lambda host, port: ["64:ff9b::a9fe:a9fe"])
    with pytest.raises(EgressRefused, match="169.254.169.254"):
        guard.check("https://nat64.example.com/hook")


def test_ipv4_compatible_addresses_are_refused_even_when_public() -> None:
    with pytest.raises(EgressRefused, match="IPv4-compatible"):
        EgressGuard(allow_loopback=False).check("http://[::93.184.216.34]/hook")


def test_a_loopback_refusal_names_the_setting_that_allows_it_and_a_private_one_does_not(
    embedded: Embedded,
) -> None:
    key = embedded.new_key()

    def detail(url: str) -> str:
        response = embedded.client.post(
            f"{API}/webhooks/endpoints", headers={"Authorization": f"Bearer {key}"}, json={"url": url}
        )
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    assert "IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK=true" in detail("http://127.0.0.1:8080/hook")
    assert "IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK" not in detail("http://10.0.0.1/hook")
