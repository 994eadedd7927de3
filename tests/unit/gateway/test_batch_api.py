"""POST /jobs/batch: one answer per entry, refused entries never charged nor queued, one Idempotency-Key."""

from __future__ import annotations

from typing import Any

import pytest
from batch_race_support import assert_one_set_of_jobs, race_identical_batches
from edit_support import Studio, mask_png, png
from sqlalchemy import func, select
from support import Embedded, make_image
from upload_support import FakeUploads

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.jobs.service import job_service
from imagestudio.outbox import OutboxMessage

API = "/api/image-studio"


def batch(stack: Studio | Embedded, jobs: list[dict[str, Any]], key: str, **headers: str) -> Any:
    embedded = stack.embedded if isinstance(stack, Studio) else stack
    return embedded.client.post(
        f"{API}/jobs/batch", json={"jobs": jobs}, headers={"Authorization": f"Bearer {key}", **headers}
    )


def credits(studio: Studio) -> dict[str, Any]:
    return studio.embedded.client.get(f"{API}/credits", headers=studio.headers()).json()


def counts() -> tuple[int, int]:
    with session_scope() as session:
        jobs = session.scalar(select(func.count()).select_from(Job))
        messages = session.scalar(select(func.count()).select_from(OutboxMessage))
        return int(jobs or 0), int(messages or 0)


def test_mixed_batch_answers_each_entry_in_order_and_charges_only_the_accepted(
    studio: Studio, uploads: FakeUploads
) -> None:
    image, mask, photo = (
        uploads.add(png()),
        uploads.add(mask_png()),
        uploads.add(make_image(900, 600, "JPEG")),
    )
    before = credits(studio)
    inpaint = {"operation": "inpaint", "image": image, "mask": mask, "prompt": "a vase", "path": "provider"}
    response = batch(
        studio,
        key=studio.key,
        jobs=[
            {"studio": "social", "params": {"image": photo, "formats": ["instagram.story"]}},
            {"studio": "edit", "params": inpaint},
            {"studio": "edit", "params": {**inpaint, "mask": "upl_missing"}},  # would cost 5
            {"studio": "social", "params": {"image": photo, "colour": "red"}},
            {"studio": "upscale", "params": {"image": image, "mode": "creative", "creativity": 0.9}},
            {"studio": "create", "params": {"prompt": "a lighthouse", "template_id": "no-such-template"}},
        ],
    )
    assert response.status_code == 200, response.text
    entries = response.json()["jobs"]
    assert [e["status"] for e in entries] == [202, 202, 422, 422, 422, 422]
    fields = [e["problem"]["field"] for e in entries[2:]]
    assert fields == ["mask", "colour", "creativity", "template_id"]
    assert all(
        e["problem"]["instance"] == f"{API}/jobs/batch#/jobs/{i + 2}" for i, e in enumerate(entries[2:])
    )
    assert (entries[0]["job"]["studio"], entries[1]["job"]["studio"]) == ("social", "edit")
    assert counts() == (2, 2)

    jobs = [studio.embedded.wait_job(studio.key, e["job"]["id"]) for e in entries[:2]]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], jobs
    after = credits(studio)
    charged = {entry["job_id"] for entry in after["entries"] if entry["job_id"]}
    assert charged <= {entries[1]["job"]["id"], entries[0]["job"]["id"]}
    assert before["balance"] - after["balance"] == jobs[1]["params"]["estimated_credits"] == 5
    assert after["reserved"] == 0


def test_batch_replays_under_its_idempotency_key_without_new_jobs(
    embedded: Embedded, uploads: FakeUploads
) -> None:
    key = embedded.new_key()
    photo = uploads.add(make_image())
    jobs = [
        {"studio": "social", "params": {"image": photo, "formats": ["instagram.story"]}},
        {"studio": "social", "params": {"image": "upl_missing"}},
    ]
    first = batch(embedded, jobs, key, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == 200, first.text
    made = counts()
    again = batch(embedded, jobs, key, **{"Idempotency-Key": "batch-1"})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert counts() == made == (1, 1)
    changed = batch(embedded, jobs[:1], key, **{"Idempotency-Key": "batch-1"})
    assert changed.status_code == 422, changed.text  # the key is bound to the first batch's content


def test_batch_of_more_than_100_entries_is_422(embedded: Embedded, uploads: FakeUploads) -> None:
    key = embedded.new_key()
    photo = uploads.add(make_image())
    entry = {"studio": "social", "params": {"image": photo, "formats": ["instagram.story"]}}
    response = batch(embedded, [entry] * 101, key)
    assert response.status_code == 422 and response.json()["field"] == "jobs", response.text
    assert batch(embedded, [], key).status_code == 422
    unknown = batch(embedded, [{"studio": "paint", "params": {}}], key)
    assert unknown.status_code == 422 and unknown.json()["field"] == "jobs.0.studio"
    assert counts() == (0, 0)


def test_a_full_batch_of_100_is_accepted(embedded: Embedded, uploads: FakeUploads) -> None:
    key = embedded.new_key("big", tier="enterprise")  # pro runs at most 20 jobs at once
    photo = uploads.add(make_image(400, 300))
    entry = {"studio": "social", "params": {"image": photo, "formats": ["instagram.story"], "zip": False}}
    response = batch(embedded, [entry] * 100, key)
    assert response.status_code == 200, response.text
    assert [e["status"] for e in response.json()["jobs"]] == [202] * 100
    assert len({e["job"]["id"] for e in response.json()["jobs"]}) == 100
    assert counts()[0] == 100


def test_entries_refused_at_submission_carry_their_problem_and_are_not_queued(
    embedded: Embedded, uploads: FakeUploads
) -> None:
    key = embedded.new_key()  # pro: at most 20 jobs queued or running; no worker runs here
    photo = uploads.add(make_image(400, 300))
    entry = {"studio": "social", "params": {"image": photo, "formats": ["instagram.story"]}}
    response = batch(embedded, [entry] * 23, key)
    assert response.status_code == 200, response.text
    entries = response.json()["jobs"]
    assert [e["status"] for e in entries] == [202] * 20 + [429] * 3
    assert all(e["problem"]["type"].endswith("/rate-limited") and e["job"] is None for e in entries[20:])
    assert counts() == (20, 20)


def test_identical_batches_raced_under_one_key_make_one_set_of_jobs(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over real HTTP; the batch does not fit whole (25 jobs, the plan runs 20), so its entries
    # commit one by one: the key must be claimed before the first of them. Three rounds (a new
    # tenant each): SQLite's write lock sometimes lets one racer finish first.
    for _ in range(3):
        assert_one_set_of_jobs(race_identical_batches(embedded, monkeypatch))


def test_a_batch_failing_before_any_entry_commits_frees_its_key(
    embedded: Embedded, uploads: FakeUploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = embedded.new_key()  # pro: 20 at once, so 21 entries are tried one by one
    photo = uploads.add(make_image(400, 300))
    jobs = [{"studio": "social", "params": {"image": photo, "formats": ["instagram.story"]}}] * 21
    commit = job_service._commit

    def database_gone(session: Any, tenant_id: str, pairs: Any, limits: Any, record_key: Any) -> None:
        if record_key is None:  # an entry alone, after the key was claimed
            raise RuntimeError("the database went away")
        commit(session, tenant_id, pairs, limits, record_key)

    monkeypatch.setattr(job_service, "_commit", database_gone)
    with pytest.raises(RuntimeError):
        batch(embedded, jobs, key, **{"Idempotency-Key": "batch-9"})
    monkeypatch.setattr(job_service, "_commit", commit)
    assert counts() == (0, 0)
    again = batch(embedded, jobs, key, **{"Idempotency-Key": "batch-9"})  # a new request, not a 409
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers, again.text
    assert [e["status"] for e in again.json()["jobs"]] == [202] * 20 + [429]
