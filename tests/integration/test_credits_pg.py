"""Credits, tiers, idempotency and rate limits on PostgreSQL (the gateway in-process, S3 storage)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from support import Embedded, make_image, submit_social_job

from imagestudio.credits.models import CreditEntry
from imagestudio.credits.service import credit_service
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope
from imagestudio.errors import ConcurrencyLimited, Forbidden, PaymentRequired, ValidationFailed
from imagestudio.jobs.models import Job
from imagestudio.jobs.runner import JobContext, run_job
from imagestudio.jobs.service import job_service
from imagestudio.tenants.service import tenant_service

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def tenant_with(stack: Embedded, *, available: int, tier: str = "pro") -> tuple[str, str]:
    """A new tenant whose available balance is exactly ``available``; returns (tenant_id, key)."""
    key = stack.new_key(tier=tier)
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        current = credit_service.balance(session, tenant_id=tenant_id)  # 0 before the monthly grant
        tenant = credit_service.lock_tenant(session, tenant_id=tenant_id)
        credit_service.grant_month(session, tenant_id=tenant.id, tier=tenant.tier)
        current = credit_service.balance(session, tenant_id=tenant_id)
        credit_service.grant(
            session, tenant_id=tenant_id, amount=available - current.available, note="test", kind="adjust"
        )  # type: ignore[arg-type]
    return tenant_id, key


def submit(tenant_id: str, cost: int) -> str:
    return submit_social_job(tenant_id, cost=cost, side=32)


def ledger_matches_balance(tenant_id: str) -> tuple[int, int]:
    with session_scope() as session:
        balance = credit_service.balance(session, tenant_id=tenant_id)
        rows = session.scalars(select(CreditEntry).where(CreditEntry.tenant_id == tenant_id)).all()
        assert balance.balance == sum(r.balance_delta for r in rows)
        assert balance.reserved == sum(r.reserved_delta for r in rows)
        # The account's count of active jobs is the jobs table's.
        unfinished = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.tenant_id == tenant_id, Job.status.in_(["queued", "running"]))
        )
        assert credit_service.active_jobs(session, tenant_id=tenant_id) == unfinished
        return balance.balance, balance.reserved


def charges(costs: dict[str, int]):  # type: ignore[no-untyped-def]
    def handler(ctx: JobContext) -> None:
        for name, credits in costs.items():
            ctx.add_output(
                name,
                b"x",
                ext="bin",
                content_type="application/octet-stream",
                format="bin",
                metadata={"credits": credits},
            )

    return handler


def test_parallel_submissions_never_overdraw(pg_stack: Embedded) -> None:
    tenant_id, _ = tenant_with(pg_stack, available=50)
    start = threading.Barrier(12)

    def attempt(_: int) -> str:
        start.wait()
        try:
            submit(tenant_id, cost=10)
            return "accepted"
        except PaymentRequired:
            return "refused"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("accepted") == 5 and outcomes.count("refused") == 7
    balance, reserved = ledger_matches_balance(tenant_id)
    assert reserved == 50 and balance - reserved == 0


def test_parallel_free_submissions_hold_the_concurrency_limit(pg_stack: Embedded) -> None:
    # Free jobs take no credit lock, but the slot count is one conditional UPDATE: never over.
    tenant_id, _ = tenant_with(pg_stack, available=0, tier="free")  # free: 2 jobs at once
    start = threading.Barrier(8)

    def attempt(_: int) -> str:
        start.wait()
        try:
            return submit(tenant_id, cost=0)
        except ConcurrencyLimited as exc:
            assert exc.status == 429 and exc.extra["allowed"] == 2
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    accepted = [o for o in outcomes if o != "refused"]
    assert len(accepted) == 2
    ledger_matches_balance(tenant_id)
    run_job(accepted[0], charges({}))  # a job that ends frees its slot for the next
    ledger_matches_balance(tenant_id)
    assert submit(tenant_id, cost=0)
    with pytest.raises(ConcurrencyLimited):
        submit(tenant_id, cost=0)


def test_402_names_balance_and_cost_and_enqueues_nothing(pg_stack: Embedded) -> None:
    tenant_id, _ = tenant_with(pg_stack, available=5)
    with pytest.raises(PaymentRequired) as refused:
        submit(tenant_id, cost=10)
    assert refused.value.status == 402
    assert refused.value.extra["available"] == 5 and refused.value.extra["cost"] == 10
    with session_scope() as session:
        assert (
            job_service.page(
                session, tenant_id=tenant_id, limit=5, studio=None, status=None, cursor=None
            ).items
            == []
        )


def test_failed_job_releases_its_reserve(pg_stack: Embedded) -> None:
    tenant_id, _ = tenant_with(pg_stack, available=40)
    job_id = submit(tenant_id, cost=30)
    assert ledger_matches_balance(tenant_id) == (40, 30)

    def refuse(ctx: JobContext) -> None:
        raise ValidationFailed("prompt", "refused by the provider")

    run_job(job_id, refuse)
    assert ledger_matches_balance(tenant_id) == (40, 0)


def test_success_captures_once_even_when_redelivered(pg_stack: Embedded) -> None:
    tenant_id, _ = tenant_with(pg_stack, available=100)
    job_id = submit(tenant_id, cost=12)
    run_job(job_id, charges({"a": 4, "b": 4}))  # 8 used, 4 released
    assert ledger_matches_balance(tenant_id) == (92, 0)
    with session_scope() as session:  # the message arrives again after success
        job_service.succeed(session, job_id=job_id)
        credit_service.settle(session, tenant_id=tenant_id, job_id=job_id, captures=[("a", 4), ("b", 4)])
    run_job(job_id, charges({"a": 4, "b": 4}))
    assert ledger_matches_balance(tenant_id) == (92, 0)
    with session_scope() as session:
        kinds = session.scalars(select(CreditEntry.kind).where(CreditEntry.job_id == job_id)).all()
    assert sorted(kinds) == ["capture", "capture", "release", "reserve"]


def test_cancel_releases_everything(pg_stack: Embedded) -> None:
    tenant_id, key = tenant_with(pg_stack, available=20)
    job_id = submit(tenant_id, cost=20)
    response = pg_stack.client.post(f"{API}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert ledger_matches_balance(tenant_id) == (20, 0)


def test_credits_route_shows_balance_and_ledger_only_to_its_tenant(pg_stack: Embedded) -> None:
    tenant_a, key_a = tenant_with(pg_stack, available=70)
    submit(tenant_a, cost=20)
    _, key_b = tenant_with(pg_stack, available=3)
    body = pg_stack.client.get(f"{API}/credits", headers={"Authorization": f"Bearer {key_a}"}).json()
    assert (body["balance"], body["reserved"], body["available"]) == (70, 20, 50)
    assert body["entries"][0]["kind"] == "reserve" and body["tier"] == "pro"
    other = pg_stack.client.get(f"{API}/credits", headers={"Authorization": f"Bearer {key_b}"}).json()
    assert other["available"] == 3
    assert all(e["job_id"] is None for e in other["entries"])


def test_estimate_equals_charge_for_social(pg_stack: Embedded) -> None:
    _, key = tenant_with(pg_stack, available=10)
    estimate = pg_stack.client.post(
        f"{API}/estimate-cost",
        headers={"Authorization": f"Bearer {key}"},
        json={"studio": "social", "params": {"platforms": "youtube"}},
    ).json()
    assert estimate["total_credits"] == 0 and [i["item"] for i in estimate["breakdown"]] == [
        "youtube.thumbnail",
        "youtube.channel_art",
    ]
    bad = pg_stack.client.post(
        f"{API}/estimate-cost",
        headers={"Authorization": f"Bearer {key}"},
        json={"studio": "social", "params": {"platforms": "myspace"}},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "params.platforms"  # the body's field


def test_tier_limits_refused_with_403_naming_the_limit(pg_stack: Embedded) -> None:
    key = pg_stack.new_key(tier="free")
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        with pytest.raises(Forbidden) as studio:
            tier_service.check_submission(
                session, tenant_id=tenant_id, studio="upscale", provider=None, batch=None
            )
        assert studio.value.extra["limit"] == "studios" and studio.value.extra["tier"] == "free"
        with pytest.raises(Forbidden) as provider:
            tier_service.check_submission(
                session, tenant_id=tenant_id, studio="create", provider="stability", batch=1
            )
        assert provider.value.extra["limit"] == "providers"
        with pytest.raises(Forbidden) as batch:
            tier_service.check_submission(
                session, tenant_id=tenant_id, studio="create", provider="auto", batch=5
            )
        assert batch.value.extra["limit"] == "max_batch"


def social_post(
    stack: Embedded, key: str, *, idem: str | None = None, formats: str = "instagram.feed_square"
):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    return stack.client.post(
        f"{API}/social/optimize",
        headers=headers,
        files={"image": ("a.png", make_image(64, 64), "image/png")},
        data={"formats": formats},
    )


def test_idempotency_key_replays_refuses_mismatch_and_races_make_one_job(pg_stack: Embedded) -> None:
    _, key = tenant_with(pg_stack, available=10)
    first = social_post(pg_stack, key, idem="order-42")
    again = social_post(pg_stack, key, idem="order-42")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    different = social_post(pg_stack, key, idem="order-42", formats="youtube.thumbnail")
    assert different.status_code == 422 and different.json()["field"] == "Idempotency-Key"
    # Parallel requests with one key race to commit; the key commits with the job, so exactly one
    # job is made and every racer answers with it.
    with ThreadPoolExecutor(6) as pool:
        racers = list(pool.map(lambda _: social_post(pg_stack, key, idem="racing"), range(6)))
    assert {r.status_code for r in racers} == {202}
    assert len({r.json()["id"] for r in racers}) == 1
    with session_scope() as session:
        tenant_id = tenant_service.authenticate(session, key=key).tenant_id
        jobs = session.scalars(select(Job.id).where(Job.tenant_id == tenant_id)).all()
    assert len(jobs) == 2  # order-42 and racing
    # A request refused before a job existed frees its key for a corrected retry.
    refused = social_post(pg_stack, key, idem="fix-me", formats="instagram.nope")
    assert refused.status_code == 422
    assert social_post(pg_stack, key, idem="fix-me").status_code == 202
    # Keys are per tenant: another tenant's identical key is a new request.
    _, other = tenant_with(pg_stack, available=10)
    assert social_post(pg_stack, other, idem="order-42").json()["id"] != first.json()["id"]


def test_burst_gets_429_with_retry_after_and_ratelimit_fields(pg_stack: Embedded) -> None:
    _, key = tenant_with(pg_stack, available=0, tier="free")  # free: 10 submissions a minute, 2 at once
    codes = []
    for _ in range(12):
        response = social_post(pg_stack, key)
        codes.append(response.status_code)
        if response.status_code == 202:
            assert response.headers["ratelimit-policy"] == '"submissions";q=10;w=60'
            job_id = response.json()["id"]
            pg_stack.client.post(f"{API}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"})
        else:
            last = response
    assert codes[:10] == [202] * 10 and codes[10:] == [429, 429]
    assert int(last.headers["retry-after"]) >= 1
    assert last.headers["ratelimit"].startswith('"submissions";r=0;t=')
    assert last.json()["violated-policies"] == ["submissions"]


def test_concurrent_job_limit_is_a_429(pg_stack: Embedded) -> None:
    _, key = tenant_with(pg_stack, available=0, tier="free")
    assert [social_post(pg_stack, key).status_code for _ in range(3)] == [202, 202, 429]
    refused = social_post(pg_stack, key)
    assert refused.json()["limit"] == "max_concurrent_jobs"
    assert 'qu="concurrent-requests"' in refused.headers["ratelimit-policy"]


def test_ledger_row_count_only_grows(pg_stack: Embedded) -> None:
    tenant_id, _ = tenant_with(pg_stack, available=10)
    with session_scope() as session:
        before = session.scalar(
            select(func.count()).select_from(CreditEntry).where(CreditEntry.tenant_id == tenant_id)
        )
    job_id = submit(tenant_id, cost=5)
    run_job(job_id, charges({"a": 5}))
    with session_scope() as session:
        after = session.scalar(
            select(func.count()).select_from(CreditEntry).where(CreditEntry.tenant_id == tenant_id)
        )
    assert after == (before or 0) + 2  # reserve, capture (nothing left to release)
