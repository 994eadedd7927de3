"""The lean submission path (``gateway.lean_submit``) against the full route, answer for answer.

Each case sends a request to a studio route twice: once as it comes (a JSON body: the lean path
answers) and once sent past the lean path to FastAPI's route. The two answers must be the same:
status, body and headers, up to what differs between any two requests (the job id, the date, the
rate window's remaining count and reset). Used on SQLite (``tests/unit/gateway``) and on
PostgreSQL (``tests/integration``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from support import Embedded, make_image

import gateway.lean_submit
from imagestudio.credits.service import credit_service
from imagestudio.db import session_scope
from imagestudio.studios import social
from imagestudio.tenants.service import tenant_service

API = "/api/image-studio"
JSON = {"Content-Type": "application/json"}


@dataclass
class Tenant:
    key: str
    tenant_id: str
    upload_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **JSON}


def tenant(
    stack: Embedded, *, tier: str = "pro", rate: int | None = None, credits: int | None = None
) -> Tenant:
    """A tenant with one upload; ``rate`` its requests per minute, ``credits`` its exact balance."""
    key, tenant_id = stack.new_tenant(tier=tier)
    with session_scope() as session:
        if rate is not None:
            tenant_service.set_limits(session, tenant_id=tenant_id, requests_per_minute=rate)
        if credits is not None:
            account = credit_service.lock_tenant(session, tenant_id=tenant_id)
            credit_service.grant_month(session, tenant_id=tenant_id, tier=account.tier)
            current = credit_service.balance(session, tenant_id=tenant_id).available
            credit_service.grant(
                session, tenant_id=tenant_id, amount=credits - current, note="test", kind="adjust"
            )  # type: ignore[arg-type]
    uploaded = stack.client.post(
        f"{API}/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("a.png", make_image(64, 64), "image/png")},
    )
    assert uploaded.status_code == 201, uploaded.text
    return Tenant(key, tenant_id, str(uploaded.json()["id"]))


@contextmanager
def lean_taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts the requests the lean path checks the key of (it answers every one it takes)."""
    taken: list[str] = []
    original = gateway.lean_submit.check_key

    async def counted(request: Any) -> Any:
        taken.append(request.url.path)
        return await original(request)

    with monkeypatch.context() as patch:
        patch.setattr(gateway.lean_submit, "check_key", counted)
        yield taken


@contextmanager
def full_route(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every request goes to FastAPI's route (the lean path takes no body as JSON)."""
    with monkeypatch.context() as patch:
        patch.setattr(gateway.lean_submit, "_is_json", lambda scope: False)
        yield


#: Header fields whose values differ between any two requests, and how to compare them.
_VARYING = re.compile(r"\b(r|t)=\d+")


def comparable(response: httpx.Response) -> dict[str, Any]:
    """What must be the same between the lean path's answer and the route's."""
    headers = {}
    for name, value in response.headers.items():
        if name in ("date", "server"):
            continue
        if name in ("ratelimit",):
            value = _VARYING.sub(r"\1=N", value)
        if name == "retry-after":
            value = "N" if value.isdigit() else value
        headers[name] = value
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code == 429 and isinstance(body, dict):  # the window's reset, in seconds
        body["detail"] = re.sub(r"retry in \d+ s", "retry in N s", body["detail"])
    if response.status_code == 202 and isinstance(body, dict):
        job_id = body["id"]
        headers["location"] = headers["location"].replace(job_id, "<id>")
        headers["content-length"] = "<n>"  # the job's times are rendered to the microsecond
        body = {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at", "links")}
    return {"status": response.status_code, "headers": headers, "body": body}


#: A case: (name, how to send it given the stack and a fresh tenant per answer, expected status).
Send = Callable[[Embedded, Callable[..., Tenant]], httpx.Response]


def _post(stack: Embedded, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    return stack.client.post(f"{API}{path}", headers=headers, **kwargs)


def _social(t: Tenant) -> dict[str, Any]:
    return {"image": t.upload_id, "formats": ["instagram.story"]}


def _rate_limited(stack: Embedded, new: Callable[..., Tenant]) -> httpx.Response:
    t = new(rate=2)  # its upload took one of the two the minute allows
    first = _post(stack, "/social/optimize", t.auth, json=_social(t))
    assert first.status_code == 202, first.text
    return _post(stack, "/social/optimize", t.auth, json=_social(t))


def _no_credits(stack: Embedded, new: Callable[..., Tenant]) -> httpx.Response:
    t = new(credits=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(social, "price", lambda params: 3)  # social is free; this job costs 3
        return _post(stack, "/social/optimize", t.auth, json=_social(t))


def _replayed(stack: Embedded, new: Callable[..., Tenant]) -> httpx.Response:
    t = new()
    headers = {**t.auth, "Idempotency-Key": "replay-me"}
    first = _post(stack, "/social/optimize", headers, json=_social(t))
    assert first.status_code == 202, first.text
    return _post(stack, "/social/optimize", headers, json=_social(t))


def _key_reused(stack: Embedded, new: Callable[..., Tenant]) -> httpx.Response:
    t = new()
    headers = {**t.auth, "Idempotency-Key": "reused"}
    first = _post(stack, "/social/optimize", headers, json=_social(t))
    assert first.status_code == 202, first.text
    return _post(
        stack, "/social/optimize", headers, json={**_social(t), "formats": ["instagram.feed_square"]}
    )


CASES: list[tuple[str, Send, int]] = [
    ("accepted", lambda s, new: (t := new()) and _post(s, "/social/optimize", t.auth, json=_social(t)), 202),
    ("bad JSON", lambda s, new: _post(s, "/social/optimize", new().auth, content=b'{"image": '), 422),
    (
        "missing field",
        lambda s, new: _post(s, "/social/optimize", new().auth, json={"formats": ["instagram.story"]}),
        422,
    ),
    (
        "unknown format",
        lambda s, new: (
            (t := new()) and _post(s, "/social/optimize", t.auth, json={**_social(t), "formats": ["x.y"]})
        ),
        422,
    ),
    (
        "unknown upload",
        lambda s, new: _post(
            s, "/social/optimize", new().auth, json={"image": "upl_nothing", "formats": ["instagram.story"]}
        ),
        422,
    ),
    (
        "body over the limit",
        lambda s, new: _post(
            s, "/social/optimize", {**new().auth, "Content-Length": str(10**9)}, content=b"{}"
        ),
        413,
    ),
    ("no credits", _no_credits, 402),
    ("rate limited", _rate_limited, 429),
    (
        "bad key",
        lambda s, new: _post(s, "/social/optimize", {"Authorization": "Bearer isk_wrong", **JSON}, json={}),
        401,
    ),
    ("no key", lambda s, new: _post(s, "/social/optimize", JSON, json={}), 401),
    (
        "tier forbids the studio's option",
        lambda s, new: (
            (t := new(tier="free"))
            and _post(s, "/social/optimize", t.auth, json={**_social(t), "priority": "high"})
        ),
        403,
    ),
    ("idempotent replay", _replayed, 202),
    ("Idempotency-Key reused with another body", _key_reused, 422),
]


#: The cases as a test's parameters (``send``, ``status``).
each_case = pytest.mark.parametrize(
    ("send", "status"), [(send, status) for _, send, status in CASES], ids=[name for name, _, _ in CASES]
)


def assert_same_answers(stack: Embedded, monkeypatch: pytest.MonkeyPatch, send: Send, status: int) -> None:
    """The case answered by the lean path and by the route: the same answer, the expected status."""

    def new(**options: Any) -> Tenant:
        return tenant(stack, **options)

    with lean_taken(monkeypatch) as taken:
        lean = send(stack, new)
    assert taken, "the lean path did not take the request"
    with lean_taken(monkeypatch) as taken, full_route(monkeypatch):
        full = send(stack, new)
    assert not taken, "the full route's request went the lean way"
    assert lean.status_code == status, lean.text
    assert comparable(lean) == comparable(full)
