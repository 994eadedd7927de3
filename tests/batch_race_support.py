"""Two identical batches under one Idempotency-Key, raced over real HTTP (uvicorn on loopback).

Shared by the embedded (SQLite) test and the PostgreSQL one: the batch holds one paid entry and
more free entries than the tenant's plan runs at once, so it never fits whole and its entries
are tried one by one (the path that made a second set of jobs).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support import Embedded, make_image

from imagestudio.credits.models import CreditEntry
from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.jobs.service import job_service
from imagestudio.providers.directory import provider_directory
from simulators import run_in_thread

API = "/api/image-studio"


@dataclass(frozen=True)
class RaceOutcome:
    """What the racers were answered and what the database holds afterwards."""

    responses: list[httpx.Response]
    #: Every job of the tenant, id to studio.
    jobs: dict[str, str]
    #: Credit reserves held per job id (a paid job charged twice has two).
    reserves: dict[str, int]

    def answered_job_ids(self) -> set[str]:
        ids: set[str] = set()
        for response in self.responses:
            if response.status_code == 200:
                ids |= {entry["job"]["id"] for entry in response.json()["jobs"] if entry["job"]}
        return ids


def race_identical_batches(
    stack: Embedded, monkeypatch: pytest.MonkeyPatch, *, racers: int = 2, free_entries: int = 24
) -> RaceOutcome:
    """``racers`` threads post the same batch with the same key at once; the outcome.

    The racers draft their entries apart, then wait for each other before submitting them, so
    every run races the submissions (unsynchronised, one finished first in about a run of three).
    """
    key, tenant_id = stack.new_tenant("racer")  # pro: at most 20 jobs queued or running
    headers = {"Authorization": f"Bearer {key}"}
    upload = stack.client.post(
        f"{API}/uploads", headers=headers, files={"file": ("p.png", make_image(64, 64), "image/png")}
    )
    assert upload.status_code == 201, upload.text
    free = {"studio": "social", "params": {"image": upload.json()["id"], "formats": ["instagram.story"]}}
    paid = {"studio": "create", "params": {"prompt": "a lighthouse at dawn"}}
    body: dict[str, Any] = {"jobs": [paid] + [free] * free_entries}
    # The paid entry needs a provider to be drafted; no worker runs, so none is ever called.
    provider_directory.use_simulators(
        {"stability": {"api_key": "race", "base_url": "http://stability.simulator"}}
    )
    served = run_in_thread(stack.client.app)
    start, drafted = threading.Barrier(racers), threading.Barrier(racers, timeout=60)
    submit_many = job_service.submit_many

    def submit_together(*args: Any, **kwargs: Any) -> Any:
        drafted.wait()
        return submit_many(*args, **kwargs)

    monkeypatch.setattr(job_service, "submit_many", submit_together)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=served.base_url, timeout=120) as client:
            start.wait()
            return client.post(
                f"{API}/jobs/batch", json=body, headers={**headers, "Idempotency-Key": "race-1"}
            )

    try:
        with ThreadPoolExecutor(racers) as pool:
            responses = list(pool.map(send, range(racers)))
    finally:
        served.stop()
        provider_directory.clear_simulators()
        monkeypatch.setattr(job_service, "submit_many", submit_many)
    with session_scope() as session:
        jobs = dict(session.execute(select(Job.id, Job.studio).where(Job.tenant_id == tenant_id)).all())
        reserves: dict[str, int] = {}
        for job_id in session.scalars(
            select(CreditEntry.job_id).where(
                CreditEntry.tenant_id == tenant_id,
                CreditEntry.kind == "reserve",
                CreditEntry.reserved_delta > 0,
            )
        ):
            assert job_id is not None
            reserves[job_id] = reserves.get(job_id, 0) + 1
    return RaceOutcome(responses=responses, jobs=jobs, reserves=reserves)


def assert_one_set_of_jobs(outcome: RaceOutcome) -> None:
    """One racer made the jobs; the others got its answer or a 409; each paid job held once."""
    statuses = [r.status_code for r in outcome.responses]
    assert set(statuses) <= {200, 409} and 200 in statuses, [r.text for r in outcome.responses]
    answers = [r.json() for r in outcome.responses if r.status_code == 200]
    assert all(answer == answers[0] for answer in answers), "racers were answered different batches"
    conflicts = [r for r in outcome.responses if r.status_code == 409]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in conflicts)
    entries = answers[0]["jobs"]
    assert entries[0]["status"] == 202, entries[0]  # the paid entry comes first and fits
    assert set(outcome.jobs) == outcome.answered_job_ids(), (
        f"{len(outcome.jobs)} jobs in the database, {len(outcome.answered_job_ids())} answered"
    )
    paid = {job_id for job_id, studio in outcome.jobs.items() if studio == "create"}
    assert len(paid) == 1 and all(outcome.reserves.get(job_id) == 1 for job_id in paid), outcome.reserves
