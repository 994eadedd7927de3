"""Job status, listing, cancellation and tenant isolation."""

from __future__ import annotations

from support import Embedded, make_image

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(stack: Embedded, key: str, **form: str) -> str:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data=form or {"formats": "instagram.feed_square"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_other_tenants_job_is_404_not_403(embedded: Embedded) -> None:
    alice, bob = embedded.new_key("alice"), embedded.new_key("bob")
    embedded.start_worker()
    job_id = submit(embedded, alice)
    done = embedded.wait_job(alice, job_id)
    assert embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(bob)).status_code == 404
    assert embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers=auth(bob)).status_code == 404
    assert embedded.client.get(f"{API}/jobs", headers=auth(bob)).json()["items"] == []
    # Bob cannot reach Alice's files either: links are signed per object key.
    assert done["outputs"] and all(done["id"] in o["url"] for o in done["outputs"])


def test_list_pages_and_filters(embedded: Embedded) -> None:
    key = embedded.new_key()
    ids = [submit(embedded, key) for _ in range(5)]
    first = embedded.client.get(f"{API}/jobs?limit=2", headers=auth(key)).json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:2]
    second = embedded.client.get(
        f"{API}/jobs?limit=2&cursor={first['next_cursor']}", headers=auth(key)
    ).json()
    assert [j["id"] for j in second["items"]] == ids[::-1][2:4]
    third = embedded.client.get(
        f"{API}/jobs?limit=2&cursor={second['next_cursor']}", headers=auth(key)
    ).json()
    assert [j["id"] for j in third["items"]] == ids[:1] and third["next_cursor"] is None
    assert (
        len(embedded.client.get(f"{API}/jobs?status=queued&studio=social", headers=auth(key)).json()["items"])
        == 5
    )
    assert embedded.client.get(f"{API}/jobs?status=succeeded", headers=auth(key)).json()["items"] == []
    bad = embedded.client.get(f"{API}/jobs?status=done", headers=auth(key))
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_cancel_queued_job_then_worker_skips_it(embedded: Embedded) -> None:
    key = embedded.new_key()
    job_id = submit(embedded, key)
    canceled = embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers=auth(key))
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert canceled.json()["finished_at"]
    again = embedded.client.post(f"{API}/jobs/{job_id}/cancel", headers=auth(key))
    assert again.status_code == 409
    embedded.start_worker()
    embedded.drain()
    job = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key)).json()
    assert job["status"] == "canceled" and job["outputs"] == [] and job["attempts"] == 0
