"""Studio submissions solve their two dependencies themselves (``submission.direct_handler``):
every studio route takes that path, and its answers are FastAPI's (headers included)."""

from __future__ import annotations

from fastapi.routing import APIRoute
from support import Embedded, make_image

from gateway.routes import studios
from gateway.submission import direct_handler, submission_dependency


def _routes() -> list[APIRoute]:
    return [route for route in studios.router.routes if isinstance(route, APIRoute)]


def test_every_studio_submission_and_nothing_else_takes_the_direct_path() -> None:
    studio = [r for r in _routes() if any(d.call is submission_dependency for d in r.dependant.dependencies)]
    # create, edit, upscale, social, control, compress, convert, and social's crop plan (a plan-only job)
    assert sorted(r.path.removeprefix("/api/image-studio") for r in studio) == sorted(
        [
            "/create",
            "/edit",
            "/upscale",
            "/social/optimize",
            "/control",
            "/compress",
            "/convert",
            "/social/plan",
        ]
    )
    assert all(direct_handler(r.dependant, r.endpoint) is not None for r in studio)
    others = [r for r in _routes() if r not in studio]
    assert others and all(direct_handler(r.dependant, r.endpoint) is None for r in others)


def test_a_direct_answer_carries_one_length_and_the_route_headers(embedded: Embedded) -> None:
    key = embedded.new_key()
    upload = embedded.client.post(
        "/api/image-studio/uploads",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("p.png", make_image(64, 64), "image/png")},
    )
    assert upload.status_code == 201, upload.text
    response = embedded.client.post(
        "/api/image-studio/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        json={"image": upload.json()["id"], "formats": ["instagram.feed_square"]},
    )
    assert response.status_code == 202, response.text
    assert response.headers.get_list("content-length") == [str(len(response.content))]
    assert response.headers["location"] == f"/api/image-studio/jobs/{response.json()['id']}"
    assert response.headers["ratelimit"].startswith('"submissions";')
    waited = embedded.client.post(
        "/api/image-studio/social/optimize",
        headers={"Authorization": f"Bearer {key}", "Prefer": "wait=1"},
        json={"image": upload.json()["id"], "formats": ["instagram.feed_square"]},
    )
    # The Prefer header reaches the route: the wait is honoured (and said so), whatever the outcome.
    assert waited.status_code in (200, 202), waited.text
    assert waited.headers["preference-applied"] == "wait=1"
