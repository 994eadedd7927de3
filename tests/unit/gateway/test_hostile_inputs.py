"""Hostile query strings and headers answer a 4xx problem naming the field (or are honoured), never 5xx."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from support import Embedded, make_image

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(stack: Embedded, key: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    response = stack.client.post(
        f"{API}/social/optimize",
        headers={**auth(key), **(headers or {})},
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data={"formats": "instagram.feed_square"},
    )
    assert response.status_code in (200, 202), response.text
    return response.json()  # type: ignore[no-any-return]


def test_asset_dates_without_an_offset_are_read_as_utc(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    job = submit(embedded, key)
    embedded.wait_job(key, str(job["id"]))
    everything = embedded.client.get(f"{API}/assets", headers=auth(key)).json()["items"]
    assert everything
    after_past = embedded.client.get(
        f"{API}/assets", params={"created_after": "2000-01-01T00:00:00"}, headers=auth(key)
    )
    assert after_past.status_code == 200, after_past.text
    ids = [asset["id"] for asset in everything]  # by id: each answer signs fresh download links
    assert [asset["id"] for asset in after_past.json()["items"]] == ids
    before_past = embedded.client.get(
        f"{API}/assets", params={"created_before": "2000-01-01T00:00:00"}, headers=auth(key)
    )
    assert before_past.status_code == 200 and before_past.json()["items"] == []
    # Naive is UTC: the same instant with and without "Z" selects the same assets.
    created = everything[-1]["created_at"]
    naive = created.replace("Z", "").replace("+00:00", "")
    for value in (created, naive):
        hit = embedded.client.get(f"{API}/assets", params={"created_after": value}, headers=auth(key))
        assert ids[-1] in [asset["id"] for asset in hit.json()["items"]], value
    future = {"created_after": "2999-01-01T00:00:00"}
    assert embedded.client.get(f"{API}/assets", params=future, headers=auth(key)).json()["items"] == []


def test_an_unparseable_asset_date_is_422_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    bad = embedded.client.get(f"{API}/assets", params={"created_after": "yesterday"}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["field"] == "created_after"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_asset_date_out_of_range_in_utc_is_422_naming_the_field(embedded: Embedded, value: str) -> None:
    """Found by the schema fuzzer: the offset moves the date past year 1 or 9999."""
    key = embedded.new_key()
    bad = embedded.client.get(f"{API}/assets", params={"created_before": value}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["field"] == "created_before", bad.text


def _cursor(created: str, row_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, row_id]).encode()).decode().rstrip("=")


def test_a_cursor_holding_a_naive_date_pages_as_utc_in_every_listing(embedded: Embedded) -> None:
    key = embedded.new_key()
    cursor = _cursor("2999-01-01T00:00:00", "zzz")
    for path in ("/assets", "/jobs", "/webhooks/deliveries"):
        response = embedded.client.get(f"{API}{path}", params={"cursor": cursor}, headers=auth(key))
        assert response.status_code == 200, (path, response.text)


def test_a_prefer_wait_of_thousands_of_digits_is_capped_not_a_5xx(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    response = embedded.client.post(
        f"{API}/social/optimize",
        headers={**auth(key), "Prefer": "wait=" + "9" * 5000},
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data={"formats": "instagram.feed_square"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "wait=60"


def test_a_prefer_wait_of_zeros_is_no_wait() -> None:
    from gateway.studio_options import prefer_wait

    assert prefer_wait("wait=" + "0" * 5000) is None
    assert prefer_wait("wait=" + "0" * 4990 + "5") == 5
    assert prefer_wait("respond-async, wait=" + "1" * 400) == 60


def _download_link(embedded: Embedded, key: str) -> str:
    embedded.start_worker()
    job = submit(embedded, key)
    done = embedded.wait_job(key, str(job["id"]))
    return str(done["outputs"][0]["url"])


def test_a_download_signature_with_non_ascii_characters_is_404(embedded: Embedded) -> None:
    key = embedded.new_key()
    url = urlsplit(_download_link(embedded, key))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert embedded.client.get(url.path, params=query).status_code == 200
    for forged in ("é" * 64, query["signature"][:-1] + "é", "\u202e" + query["signature"], ""):
        response = embedded.client.get(url.path, params={**query, "signature": forged})
        assert response.status_code == 404, (forged, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_download_expiry_of_thousands_of_digits_is_refused_not_a_5xx(embedded: Embedded) -> None:
    key = embedded.new_key()
    url = urlsplit(_download_link(embedded, key))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    response = embedded.client.get(url.path, params={**query, "expires": "9" * 5000})
    assert 400 <= response.status_code < 500, response.text


def test_an_event_cursor_past_any_event_id_is_422_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    job = submit(embedded, key)
    embedded.wait_job(key, str(job["id"]))
    url = f"{API}/jobs/{job['id']}/events"
    for huge in ("9" * 30, "9" * 5000):
        by_header = embedded.client.get(url, headers={**auth(key), "Last-Event-ID": huge})
        assert by_header.status_code == 422 and by_header.json()["field"] == "Last-Event-ID", by_header.text
    by_query = embedded.client.get(url, params={"after": "9" * 30}, headers=auth(key))
    assert by_query.status_code == 422 and by_query.json()["field"] == "after", by_query.text


def test_an_api_key_with_non_ascii_characters_is_401(embedded: Embedded) -> None:
    key = embedded.new_key()
    for forged in (key[:-1] + "é", key + "\u00ff", key[:12] + "é" * 40):
        # Raw latin-1 header bytes, as a hostile client can send them.
        response = embedded.client.get(
            f"{API}/jobs", headers={"Authorization": f"Bearer {forged}".encode("latin-1")}
        )
        assert response.status_code == 401, (forged, response.text)
