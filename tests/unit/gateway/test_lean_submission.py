"""The lean submission path answers every case as the full route does (SQLite, embedded mode)."""

from __future__ import annotations

import pytest
from lean_submission_cases import Send, assert_same_answers, each_case
from support import Embedded


@each_case
def test_the_lean_path_answers_as_the_route(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch, send: Send, status: int
) -> None:
    assert_same_answers(embedded, monkeypatch, send, status)


def test_a_form_a_wait_and_another_method_go_the_full_way(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lean_submission_cases import API, lean_taken, tenant
    from support import make_image

    t = tenant(embedded)
    with lean_taken(monkeypatch) as taken:
        form = embedded.client.post(
            f"{API}/social/optimize",
            headers={"Authorization": f"Bearer {t.key}"},
            data={"formats": "instagram.story"},
            files={"image": ("a.png", make_image(64, 64), "image/png")},
        )
        listed = embedded.client.get(f"{API}/jobs", headers={"Authorization": f"Bearer {t.key}"})
    assert form.status_code == 202, form.text
    assert listed.status_code == 200, listed.text
    assert taken == []


def test_the_lean_path_counts_the_route_series_the_full_route_counts(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lean_submission_cases import API, full_route, lean_taken, tenant

    from imagestudio.telemetry.metrics import HTTP_REQUESTS, JOBS_ACCEPTED

    t = tenant(embedded)
    body = {"image": t.upload_id, "formats": ["instagram.story"]}

    def counts() -> tuple[float, float]:
        series = HTTP_REQUESTS.labels("POST", "/social/optimize", "202")
        return series._value.get(), JOBS_ACCEPTED.labels("social")._value.get()

    before = counts()
    with lean_taken(monkeypatch) as taken:
        assert embedded.client.post(f"{API}/social/optimize", headers=t.auth, json=body).status_code == 202
    assert taken
    lean = counts()
    with full_route(monkeypatch):
        assert embedded.client.post(f"{API}/social/optimize", headers=t.auth, json=body).status_code == 202
    assert lean == (before[0] + 1, before[1] + 1)
    assert counts() == (lean[0] + 1, lean[1] + 1)
