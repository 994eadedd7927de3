"""Live job events (SSE, resumable with Last-Event-ID) and ``Prefer: wait`` on job creation."""

from __future__ import annotations

import json
from typing import Any

from support import Embedded, post_social
from webhook_api import API, auth, submit


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body: id, event and the JSON data of each."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if "data" in fields:
            events.append(
                {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            )
    return events


def test_stream_sends_every_state_in_order_and_ends_with_the_terminal_event(embedded: Embedded) -> None:
    key = embedded.new_key()
    job = submit(embedded, key, formats="instagram.feed_square,instagram.story")
    embedded.start_worker()
    response = embedded.client.get(f"{API}/jobs/{job['id']}/events", headers=auth(key))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("retry: ")
    events = parse_sse(response.text)
    types = [e["event"] for e in events]
    assert types[0] == "job.queued" and types[1] == "job.running" and types[-1] == "job.succeeded"
    progress = [e["data"]["data"] for e in events if e["event"] == "job.progress"]
    assert any("instagram.story" in p["message"] for p in progress)  # per-output progress
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e["data"]["job_id"] == job["id"] and e["data"]["id"] == e["id"] for e in events)


def test_stream_resumes_after_last_event_id_and_says_204_past_the_end(embedded: Embedded) -> None:
    key = embedded.new_key()
    job = submit(embedded, key)
    embedded.start_worker()
    embedded.wait_job(key, job["id"])
    url = f"{API}/jobs/{job['id']}/events"
    everything = parse_sse(embedded.client.get(url, headers=auth(key)).text)
    middle = everything[1]["id"]
    resumed = parse_sse(embedded.client.get(url, headers={**auth(key), "Last-Event-ID": str(middle)}).text)
    assert [e["id"] for e in resumed] == [e["id"] for e in everything[2:]]
    assert resumed[-1]["event"] == "job.succeeded"
    by_query = parse_sse(embedded.client.get(url, headers=auth(key), params={"after": middle}).text)
    assert by_query == resumed
    past_end = embedded.client.get(url, headers={**auth(key), "Last-Event-ID": str(everything[-1]["id"])})
    assert past_end.status_code == 204  # an EventSource stops reconnecting


def test_stream_of_another_tenants_job_is_404_and_a_bad_cursor_422(embedded: Embedded) -> None:
    alice, bob = embedded.new_key("alice"), embedded.new_key("bob")
    job = submit(embedded, alice)
    assert embedded.client.get(f"{API}/jobs/{job['id']}/events", headers=auth(bob)).status_code == 404
    bad = embedded.client.get(
        f"{API}/jobs/{job['id']}/events", headers={**auth(alice), "Last-Event-ID": "abc"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "Last-Event-ID"


def test_prefer_wait_answers_200_with_the_finished_job(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    image = ("a.png", _image(), "image/png")
    response = post_social(embedded, key, image, prefer="wait=60", formats="instagram.feed_square")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["outputs"]
    assert response.headers["preference-applied"] == "wait=60"
    assert response.headers["location"].endswith(body["id"])


def test_prefer_wait_answers_the_usual_202_when_the_job_is_not_done_in_time(embedded: Embedded) -> None:
    key = embedded.new_key()  # no worker: the job stays queued
    image = ("a.png", _image(), "image/png")
    response = post_social(
        embedded, key, image, prefer="respond-async, wait=1", formats="instagram.feed_square"
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert response.headers["location"].endswith(response.json()["id"])


def _image() -> bytes:
    from support import make_image

    return make_image(320, 240)
