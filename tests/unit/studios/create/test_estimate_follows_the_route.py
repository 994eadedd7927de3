"""POST /estimate-cost for create: the charge of the route that will serve, and the most that is held.

The estimate plans with the submission's planning (the tenant's tier, the providers' circuits), so
``total_credits`` equals what the ledger captures whenever the planned provider serves, and
``max_credits`` equals what the job reserves (the dearest fallback).
"""

from __future__ import annotations

from typing import Any

from create_support import API, CreateStack

from imagestudio.providers.health import breaker_for


def estimate(stack: CreateStack, body: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
    response = stack.embedded.client.post(
        f"{API}/estimate-cost", json={"studio": "create", "params": body}, headers=stack.headers(key)
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def captured(stack: CreateStack, job_id: str, *, key: str | None = None) -> int:
    entries = stack.embedded.client.get(
        f"{API}/credits", params={"limit": 200}, headers=stack.headers(key)
    ).json()["entries"]
    return -sum(e["balance_delta"] for e in entries if e["job_id"] == job_id and e["kind"] == "capture")


def served_by(job: dict[str, Any]) -> set[str]:
    return {output["metadata"]["provider"] for output in job["outputs"]}


def test_auto_estimate_is_the_charge_and_the_hold_is_the_dearest_fallback(create_stack: CreateStack) -> None:
    body = {"prompt": "a lighthouse at dawn", "count": 4, "quality": "standard"}
    priced = estimate(create_stack, body)
    job = create_stack.run(body)
    assert job["status"] == "succeeded", job
    assert served_by(job) == {priced["breakdown"][0]["provider"]}
    assert captured(create_stack, job["id"]) == priced["total_credits"]
    assert priced["max_credits"] == job["params"]["estimated_credits"]  # what the job reserved
    assert priced["total_credits"] < priced["max_credits"]  # a dearer fallback exists for standard


def test_estimate_follows_the_route_when_the_first_choice_circuit_is_open(create_stack: CreateStack) -> None:
    body = {"prompt": "a lighthouse at dawn", "count": 2, "quality": "standard"}
    first = estimate(create_stack, body)["breakdown"][0]["provider"]
    breaker = breaker_for(first)
    while breaker.health()["state"] != "open":
        breaker.record_failure()
    priced = estimate(create_stack, body)
    assert priced["breakdown"][0]["provider"] != first
    job = create_stack.run(body)
    assert job["status"] == "succeeded", job
    assert served_by(job) == {priced["breakdown"][0]["provider"]}
    assert captured(create_stack, job["id"]) == priced["total_credits"]


def test_estimate_plans_within_the_tenants_tier(create_stack: CreateStack) -> None:
    body = {"prompt": "a lighthouse at dawn", "count": 2, "quality": "standard"}
    unrestricted = estimate(create_stack, body)["breakdown"][0]["provider"]
    free = create_stack.embedded.new_key(name="free tenant", tier="free")
    priced = estimate(create_stack, body, key=free)
    assert unrestricted not in ("huggingface", "gemini")  # the pro first choice is outside the free tier
    assert priced["breakdown"][0]["provider"] in ("huggingface", "gemini")
    job = create_stack.run(body, key=free)
    assert job["status"] == "succeeded", job
    assert served_by(job) == {priced["breakdown"][0]["provider"]}
    assert captured(create_stack, job["id"], key=free) == priced["total_credits"]
    assert priced["max_credits"] == job["params"]["estimated_credits"]
