"""The asset library on PostgreSQL and S3: filters, favourites, tags, usage, delete, bulk, isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from minio import Minio
from support import S3_PORT, Embedded, make_image

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def made_assets(stack: Embedded, key: str, formats: str) -> list[dict[str, Any]]:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers=auth(key),
        files={"image": ("a.png", make_image(400, 300), "image/png")},
        data={"formats": formats, "zip": "false"},
    )
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job["outputs"]  # type: ignore[no-any-return]


def s3_has(stack: Embedded, asset: dict[str, Any]) -> bool:
    client = Minio(
        f"127.0.0.1:{S3_PORT}", access_key="testing", secret_key="testing", secure=False, region="us-east-1"
    )
    bucket = asset["url"].split(f"127.0.0.1:{S3_PORT}/", 1)[1].split("/", 1)[0]
    key = asset["url"].split(f"/{bucket}/", 1)[1].split("?", 1)[0]
    return any(o.object_name == key for o in client.list_objects(bucket, prefix=key))


def test_library_filters_tags_favourites_usage_and_delete(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    pg_stack.start_worker()
    made_assets(pg_stack, key, "instagram.story,youtube.thumbnail,twitter.post")
    listing = pg_stack.client.get(f"{API}/assets?limit=2", headers=auth(key)).json()
    assert len(listing["items"]) == 2 and listing["next_cursor"]
    rest = pg_stack.client.get(
        f"{API}/assets?limit=2&cursor={listing['next_cursor']}", headers=auth(key)
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    everything = listing["items"] + rest["items"]
    story = next(a for a in everything if a["name"] == "instagram.story")
    assert story["width"] == 1080 and story["studio"] == "social" and story["favorite"] is False

    tagged = pg_stack.client.patch(
        f"{API}/assets/{story['id']}", headers=auth(key), json={"tags": ["Launch", "Q4", "launch"]}
    )
    assert tagged.json()["tags"] == ["launch", "q4"]
    assert (
        pg_stack.client.post(f"{API}/assets/{story['id']}/favorite", headers=auth(key)).json()["favorite"]
        is True
    )
    by_tag = pg_stack.client.get(f"{API}/assets?tag=launch", headers=auth(key)).json()["items"]
    assert [a["id"] for a in by_tag] == [story["id"]]
    assert [
        a["id"] for a in pg_stack.client.get(f"{API}/assets?favorite=true", headers=auth(key)).json()["items"]
    ] == [story["id"]]
    assert len(pg_stack.client.get(f"{API}/assets?q=q4", headers=auth(key)).json()["items"]) == 1
    assert len(pg_stack.client.get(f"{API}/assets?q=youtube", headers=auth(key)).json()["items"]) == 1
    assert pg_stack.client.get(f"{API}/assets?studio=create", headers=auth(key)).json()["items"] == []
    future = pg_stack.client.get(f"{API}/assets?created_after=2999-01-01T00:00:00Z", headers=auth(key)).json()
    assert future["items"] == []

    for place in ("newsletter-nov", "homepage"):
        used = pg_stack.client.post(
            f"{API}/assets/{story['id']}/usage", headers=auth(key), json={"used_in": place}
        )
    assert used.json()["usage_count"] == 2 and used.json()["last_used_at"]
    assert [
        u["used_in"]
        for u in pg_stack.client.get(f"{API}/assets/{story['id']}/usage", headers=auth(key)).json()
    ] == ["homepage", "newsletter-nov"]

    fresh = pg_stack.client.get(f"{API}/assets/{story['id']}", headers=auth(key)).json()
    assert httpx.get(fresh["url"]).status_code == 200 and s3_has(pg_stack, fresh)
    assert pg_stack.client.delete(f"{API}/assets/{story['id']}", headers=auth(key)).status_code == 204
    assert pg_stack.client.get(f"{API}/assets/{story['id']}", headers=auth(key)).status_code == 404
    assert not s3_has(pg_stack, fresh)  # the object is gone from S3, not just the row


def test_bulk_operations_report_per_id(pg_stack: Embedded) -> None:
    key = pg_stack.new_key()
    pg_stack.start_worker()
    ids = [a["id"] for a in made_assets(pg_stack, key, "pinterest.pin,pinterest.square_pin,tiktok.cover")]
    fav = pg_stack.client.post(
        f"{API}/assets/bulk", headers=auth(key), json={"action": "favorite", "ids": ids + ["missing"]}
    ).json()
    assert fav["succeeded"] == 3 and fav["failed"] == 1
    assert fav["results"][-1] == {"id": "missing", "ok": False, "status": 404, "detail": "No asset missing"}
    tag = pg_stack.client.post(
        f"{API}/assets/bulk", headers=auth(key), json={"action": "tag", "ids": ids[:2], "tags": ["spring"]}
    ).json()
    assert tag["succeeded"] == 2
    assert (
        len(pg_stack.client.get(f"{API}/assets?tag=spring&favorite=true", headers=auth(key)).json()["items"])
        == 2
    )
    gone = pg_stack.client.post(
        f"{API}/assets/bulk", headers=auth(key), json={"action": "delete", "ids": ids[:2]}
    ).json()
    assert gone["succeeded"] == 2
    assert [a["id"] for a in pg_stack.client.get(f"{API}/assets", headers=auth(key)).json()["items"]] == [
        ids[2]
    ]
    too_many = pg_stack.client.post(
        f"{API}/assets/bulk",
        headers=auth(key),
        json={"action": "delete", "ids": [str(i) for i in range(101)]},
    )
    assert too_many.status_code == 422 and too_many.json()["field"] == "ids"


def test_tenant_never_sees_another_tenants_assets(pg_stack: Embedded) -> None:
    alice, bob = pg_stack.new_key("alice"), pg_stack.new_key("bob")
    pg_stack.start_worker()
    asset = made_assets(pg_stack, alice, "linkedin.feed")[0]
    assert pg_stack.client.get(f"{API}/assets", headers=auth(bob)).json()["items"] == []
    for method, path in (("GET", ""), ("POST", "/favorite"), ("DELETE", "")):
        assert (
            pg_stack.client.request(
                method, f"{API}/assets/{asset['id']}{path}", headers=auth(bob)
            ).status_code
            == 404
        )
    bulk = pg_stack.client.post(
        f"{API}/assets/bulk", headers=auth(bob), json={"action": "delete", "ids": [asset["id"]]}
    ).json()
    assert bulk["results"][0]["status"] == 404
    assert pg_stack.client.get(f"{API}/assets/{asset['id']}", headers=auth(alice)).status_code == 200
