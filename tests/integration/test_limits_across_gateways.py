"""Rate limits hold across gateway processes: the counters live in PostgreSQL, not in memory."""

from __future__ import annotations

import httpx
import pytest
from support import free_port, make_image, wait_for

from integration.conftest import Process, Stack, create_key

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def test_two_gateways_share_one_tenant_rate_limit(stack: Stack) -> None:
    port = free_port()
    second = Process(["up", "--port", str(port)], stack.services.env, stack.tmp / "gateway-2.log")
    stack.processes.append(second)
    other_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{other_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, interval=0.2, what="the second gateway")
    key = create_key(stack.services.env, "two-gateways", tier="free")  # 10 submissions a minute
    headers = {"Authorization": f"Bearer {key}"}
    codes: list[int] = []
    for i in range(12):
        base = stack.base_url if i % 2 == 0 else other_url  # alternate between the two processes
        response = httpx.post(
            f"{base}{API}/social/optimize",
            headers=headers,
            files={"image": ("a.png", make_image(48, 48), "image/png")},
            data={"formats": "instagram.feed_square"},
            timeout=30,
        )
        codes.append(response.status_code)
        if response.status_code == 202:  # free allows 2 at once: cancel so only the rate counts
            httpx.post(f"{base}{API}/jobs/{response.json()['id']}/cancel", headers=headers, timeout=30)
    assert codes == [202] * 10 + [429, 429]
