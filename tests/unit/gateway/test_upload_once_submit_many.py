"""Upload once, submit many: the real POST /uploads, then JSON bodies and a batch naming its id."""

from __future__ import annotations

from sqlalchemy import select
from support import Embedded, make_image

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_one_upload_serves_many_json_jobs_and_a_batch_without_sending_bytes_again(embedded: Embedded) -> None:
    key, other = embedded.new_key("a"), embedded.new_key("b")
    embedded.start_worker()
    created = embedded.client.post(
        f"{API}/uploads",
        headers=auth(key),
        files={"file": ("p.jpg", make_image(800, 600, "JPEG"), "image/jpeg")},
    )
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["id"].startswith("upl_") and (upload["width"], upload["height"]) == (800, 600)

    singles = [
        embedded.client.post(
            f"{API}/social/optimize",
            headers=auth(key),
            json={"image": upload["id"], "formats": [fmt]},
        )
        for fmt in ("instagram.story", "twitter.post")
    ]
    assert [r.status_code for r in singles] == [202, 202], [r.text for r in singles]
    campaign = {
        "jobs": [
            {"studio": "social", "params": {"image": upload["id"], "formats": ["youtube.thumbnail"]}},
            {"studio": "social", "params": {"image": "upl_nope", "formats": ["youtube.thumbnail"]}},
        ]
    }
    headers = {**auth(key), "Idempotency-Key": "campaign-7"}
    batch = embedded.client.post(f"{API}/jobs/batch", headers=headers, json=campaign)
    assert batch.status_code == 200, batch.text
    entries = batch.json()["jobs"]
    assert entries[0]["status"] == 202 and entries[1]["status"] == 422
    assert entries[1]["problem"]["field"] == "image"
    replay = embedded.client.post(f"{API}/jobs/batch", headers=headers, json=campaign)
    assert replay.json() == batch.json() and replay.headers["idempotent-replayed"] == "true"

    ids = [r.json()["id"] for r in singles] + [entries[0]["job"]["id"]]
    for job_id in ids:
        assert embedded.wait_job(key, job_id)["status"] == "succeeded"
    with session_scope() as session:
        inputs = session.scalars(select(Job.inputs).where(Job.id.in_(ids))).all()
    assert len({i["image"] for i in inputs}) == 1  # every job reads the one uploaded object

    # Another tenant cannot name it.
    theirs = embedded.client.post(
        f"{API}/social/optimize",
        headers=auth(other),
        json={"image": upload["id"], "formats": ["twitter.post"]},
    )
    assert theirs.status_code == 422 and theirs.json()["field"] == "image"
