"""Multipart bodies being received at once are capped, in all and per tenant (429 with Retry-After).

The gateway is served by uvicorn on loopback: a form is held in flight by a client that sends
half its body and waits, so the tests reach the caps without timing anything.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from support import Embedded, in_process_stack, wait_for

from gateway.form_bodies import FormBodies
from imagestudio.credits.models import CreditEntry
from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.uploads.models import Upload
from simulators import run_in_thread

API = "/api/image-studio"
#: Each form here is one noise PNG of about 270 KB: two fit a tenant, three the gateway.
PER_TENANT, IN_ALL = 600_000, 900_000


@dataclass
class Gateway:
    stack: Embedded
    base_url: str

    def bodies(self) -> FormBodies:
        found = getattr(self.stack.client.app.state, "form_bodies", None)  # type: ignore[attr-defined]
        return found if found is not None else FormBodies()


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    env = {
        "IMAGESTUDIO_MAX_FORM_REQUEST_BYTES": str(PER_TENANT),
        "IMAGESTUDIO_MAX_FORM_BYTES_IN_FLIGHT_PER_TENANT": str(PER_TENANT),
        "IMAGESTUDIO_MAX_FORM_BYTES_IN_FLIGHT": str(IN_ALL),
    }
    for stack in in_process_stack(tmp_path, monkeypatch, **env):
        served = run_in_thread(stack.client.app)
        try:
            yield Gateway(stack, served.base_url)
        finally:
            served.stop()


def noise_png() -> bytes:
    image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload_request(key: str, url: str) -> httpx.Request:
    return httpx.Request(
        "POST",
        f"{url}{API}/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("n.png", noise_png(), "image/png")},
    )


class HeldForm:
    """A form whose client sends half the body, then waits until ``finish``."""

    def __init__(self, pool: ThreadPoolExecutor, request: httpx.Request) -> None:
        body = request.read()
        self.size = len(body)
        self._go = threading.Event()

        def chunks() -> Iterator[bytes]:
            yield body[: self.size // 2]
            self._go.wait(60)
            yield body[self.size // 2 :]

        headers = {k: v for k, v in request.headers.items() if k.lower() != "transfer-encoding"}
        headers["content-length"] = str(self.size)
        self.answer: Future[httpx.Response] = pool.submit(
            lambda: httpx.post(str(request.url), content=chunks(), headers=headers, timeout=60)
        )

    def finish(self) -> httpx.Response:
        self._go.set()
        return self.answer.result(60)


def send(request: httpx.Request) -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        return client.send(request)


def stored_and_charged(tenant_id: str) -> tuple[int, int, int]:
    with session_scope() as session:
        return tuple(  # type: ignore[return-value]
            int(
                session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
                or 0
            )
            for model in (Upload, Job, CreditEntry)
        )


def assert_refused(response: httpx.Response, policy: str, allowed: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["ratelimit-policy"].startswith(f'"{policy}";q={allowed}')
    problem: dict[str, Any] = response.json()
    assert problem["limit"] == policy and problem["allowed"] == allowed
    return problem


def test_forms_past_the_tenant_and_the_gateway_caps_get_429_and_nothing_is_stored_or_charged(
    gateway: Gateway,
) -> None:
    (a, a_id), (b, b_id), (c, c_id) = (gateway.stack.new_tenant(n) for n in "abc")
    url = gateway.base_url
    with ThreadPoolExecutor(4) as pool:
        held = [HeldForm(pool, upload_request(a, url)) for _ in range(2)]
        wait_for(lambda: gateway.bodies().held(a_id) == sum(h.size for h in held), what="A's two forms")
        before = stored_and_charged(a_id)
        third = send(upload_request(a, url))
        assert_refused(third, "form-bytes-per-tenant", PER_TENANT)
        edit_form = send(
            httpx.Request(
                "POST",
                f"{url}{API}/social/optimize",
                headers={"Authorization": f"Bearer {a}"},
                data={"formats": "instagram.story"},
                files={"image": ("n.png", noise_png(), "image/png")},
            )
        )
        assert_refused(edit_form, "form-bytes-per-tenant", PER_TENANT)
        assert stored_and_charged(a_id) == before

        assert send(upload_request(b, url)).status_code == 201  # under both caps: another tenant passes
        held_b = HeldForm(pool, upload_request(b, url))
        wait_for(lambda: gateway.bodies().held() == sum(h.size for h in [*held, held_b]), what="B's form")
        refused = send(upload_request(c, url))
        problem = assert_refused(refused, "form-bytes", IN_ALL)
        assert str(a_id) not in problem["detail"] and stored_and_charged(c_id) == (0, 0, 0)

        assert [h.finish().status_code for h in [*held, held_b]] == [201, 201, 201]
    wait_for(lambda: gateway.bodies().held() == 0, what="every form's bytes given back")
    assert send(upload_request(c, url)).status_code == 201  # the retry the 429 asked for
    assert stored_and_charged(a_id)[0] == 2 and stored_and_charged(b_id)[0] == 2


def test_bytes_return_to_zero_after_refusals_errors_and_a_client_hanging_up(gateway: Gateway) -> None:
    key, tenant_id = gateway.stack.new_tenant()
    url = gateway.base_url
    auth = {"Authorization": f"Bearer {key}"}
    not_an_image = send(
        httpx.Request(
            "POST", f"{url}{API}/uploads", headers=auth, files={"file": ("x.png", b"nope", "image/png")}
        )
    )
    assert not_an_image.status_code == 422, not_an_image.text
    bad_field = send(
        httpx.Request(
            "POST",
            f"{url}{API}/social/optimize",
            headers=auth,
            data={"formats": "instagram.nope"},
            files={"image": ("n.png", noise_png(), "image/png")},
        )
    )
    assert bad_field.status_code == 422, bad_field.text

    big = httpx.Request(
        "POST", f"{url}{API}/uploads", headers=auth, files={"file": ("b.png", b"x" * PER_TENANT, "image/png")}
    )
    big_body = big.read()

    def chunked() -> Iterator[bytes]:  # no Content-Length: held at the route's limit, then a 413
        for start in range(0, len(big_body), 64 * 1024):
            yield big_body[start : start + 64 * 1024]

    too_large = httpx.post(
        f"{url}{API}/uploads",
        content=chunked(),
        headers={**auth, "content-type": big.headers["content-type"]},
        timeout=60,
    )
    assert too_large.status_code == 413, too_large.text
    assert gateway.bodies().held() == 0

    # A client that sends half a form and hangs up.
    request = upload_request(key, url)
    body = request.read()
    head = "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host"
    )
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(f"POST {API}/uploads HTTP/1.1\r\nhost: {host}\r\n{head}\r\n".encode() + body[:1000])
        wait_for(lambda: gateway.bodies().held(tenant_id) == len(body), what="the half-sent form held")
    wait_for(lambda: gateway.bodies().held() == 0, what="the hung-up form's bytes given back")
    assert gateway.bodies().held(tenant_id) == 0
    assert stored_and_charged(tenant_id) == (0, 0, 0)
